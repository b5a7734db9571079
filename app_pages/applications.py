"""Applications: load (sample, upload), download the blank template, edit, see every problem."""

import hashlib

import streamlit as st

from app_pages import common as ui
from models.application import ValidationError

ss = st.session_state
st.title(ui.t("applications"))

# -- load ----------------------------------------------------------------------------------------
left, right = st.columns([3, 2])
with left:
    upload = st.file_uploader("Upload applications (workbook .xlsx in the template format, .csv or .json)",
                              type=["xlsx", "xlsm", "csv", "json", "txt"], key="apps_upload")
    if upload is not None:
        data = upload.getvalue()
        digest = hashlib.sha1(data).hexdigest()
        if ss.get("upload_digest") != digest:  # process each file once, not on every rerun
            ss["upload_digest"] = digest
            ss["upload_error"] = ui.try_load_upload(data, upload.name)
        if ss.get("upload_error"):
            st.error(f"**{upload.name}** was not loaded: {ss['upload_error']}  \n"
                     f"The applications already loaded ({ss.get('source_name')}) are kept.")
with right:
    st.caption(f"Now loaded: **{ss.get('source_name')}** ({len(ss['raw_df'])} rows)")
    template = ui.optional_module("template")
    if template is not None and hasattr(template, "build_template"):
        try:
            st.download_button("Download the blank template (.xlsx)", template.build_template(),
                               file_name="application_template.xlsx", key="dl_template",
                               mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        except Exception as exc:
            st.warning(f"Template could not be built: {exc}")
    else:
        ui.not_available("Blank template download")
    if st.button("Reload the bundled sample applications", key="reload_sample"):
        from models.loader import load_applications
        res = load_applications(ui.SAMPLE_PATH, ref=ui.reference())
        ui.set_table(res.raw, res.schedule, ui.SAMPLE_PATH.name)
        st.rerun()

# -- edit ----------------------------------------------------------------------------------------
st.subheader("Edit")
st.caption("Edits stay in this session while the app is open; download them as a workbook below.")
editor_key = f"apps_editor_{ss.get('editor_version', 0)}"
frame, config = ui.editor_frame(ss["raw_df"])
edited = st.data_editor(frame, column_config=config, key=editor_key, num_rows="dynamic",
                        hide_index=True, width="stretch", height=360,
                        on_change=ui.apply_editor_delta, args=(editor_key,))
delta = ss.get(editor_key) or {}
if any(delta.get(k) for k in ("edited_rows", "added_rows", "deleted_rows")):
    # edits not yet folded in by the callback (e.g. state set programmatically): fold and redraw
    ui.apply_editor_delta(editor_key)
    st.rerun()

st.download_button("Save the edited applications as a workbook (.xlsx)",
                   ui.table_to_workbook(edited, ss.get("schedule_df")),
                   file_name="applications_edited.xlsx", key="dl_edited",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

# -- validation ----------------------------------------------------------------------------------
st.subheader("Validation")
try:
    result = ui.validation()
except ValidationError as exc:
    st.error("The table cannot be used as it is: " + "; ".join(p.message() for p in exc.problems))
    result = None

if result is not None:
    n_ok, n_bad = len(result.applications), len(result.invalid_ids)
    c1, c2, c3 = st.columns(3)
    c1.metric("Rows", len(result.raw))
    c2.metric("Valid applications (evaluated)", n_ok)
    c3.metric("Applications with problems", n_bad)
    if result.problems:
        st.warning(f"{len(result.problems)} problem(s): the applications concerned are left out of the "
                   "evaluation until fixed; the valid ones are evaluated anyway.")
        problems = result.problems_frame().rename(columns={
            "application_id": "application", "field": "field", "rule": "rule", "value": "value", "row": "row"})
        st.dataframe(problems, hide_index=True, width="stretch", key="problems_table")
    else:
        st.success("Every application passes validation.")
    if result.applications:
        ev = None
        try:
            ev = ui.evaluation()
        except Exception as exc:
            st.error(f"Evaluation failed: {exc}")
        if ev is not None:
            st.subheader("Evaluated applications")
            m = ev.metrics[["name", "country_iso3", "mineral", "stage", "npv_usd_m", "irr",
                            "min_dscr", "fund_request_krw_bn", "loan_request_krw_bn"]].copy()
            m["irr"] = m["irr"] * 100
            m = ui.money_columns(m, ["fund_request_krw_bn", "loan_request_krw_bn"])
            st.dataframe(m, width="stretch", column_config={
                "npv_usd_m": st.column_config.NumberColumn("NPV [USD m]", format="%.1f"),
                "irr": st.column_config.NumberColumn("IRR [%]", format="%.1f"),
                "min_dscr": st.column_config.NumberColumn("min DSCR", format="%.2f"),
            })
