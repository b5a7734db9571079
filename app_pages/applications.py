"""Applications: load (sample, upload), download the blank template, edit, see every problem."""

import hashlib

import streamlit as st

from app_pages import access, compute, editor, state
from app_pages.fmt import md_text, mineral_name, shown, table_view
from app_pages.i18n import lang, t
from evaluator import messages
from evaluator.template import build_template
from models.application import ValidationError

ss = st.session_state
st.title(t("applications"))
st.markdown(t("landing_intro"))

# -- load ----------------------------------------------------------------------------------------
left, right = st.columns([3, 2])
ro = access.read_only()  # a viewer: no upload, no reload, the table read-only
with left:
    upload = None if ro else st.file_uploader(t("upload_applications"), type=["xlsx", "xlsm", "csv", "json", "txt"],
                                              key="apps_upload")
    if upload is not None:
        data = upload.getvalue()
        digest = hashlib.sha1(data).hexdigest()
        if ss.get("upload_digest") != digest:  # process each file once, not on every rerun
            ss["upload_digest"] = digest
            ss["upload_error"] = editor.try_load_upload(data, upload.name, compute.reference())
        if ss.get("upload_error"):
            st.error(t("upload_not_loaded", name=md_text(upload.name), error=ss["upload_error"],
                       kept=md_text(ss.get("source_name"))))
with right:
    st.caption(t("now_loaded", source=md_text(ss.get("source_name")), n=len(ss["raw_df"])))
    st.download_button(t("download_template"), build_template(language=lang()), file_name="application_template.xlsx",
                       key="dl_template", mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    if not ro and st.button(t("reload_sample"), key="reload_sample"):
        res = compute.load_sample()
        state.set_table(res.raw, res.schedule, state.SAMPLE_PATH.name)
        st.rerun()

# -- edit ----------------------------------------------------------------------------------------
st.subheader(t("edit"))
st.caption(t("edit_caption"))
editor_key = f"apps_editor_{ss.get('editor_version', 0)}"
frame, config = editor.editor_frame(ss["raw_df"])
edited = st.data_editor(frame, column_config=config, key=editor_key, num_rows="fixed" if ro else "dynamic",
                        hide_index=True, width="stretch", height=360, disabled=ro,
                        on_change=editor.apply_editor_delta, args=(editor_key,))
delta = ss.get(editor_key) or {}
if not ro and any(delta.get(k) for k in ("edited_rows", "added_rows", "deleted_rows")):
    # edits not yet folded in by the callback (e.g. state set programmatically): fold and redraw
    editor.apply_editor_delta(editor_key)
    st.rerun()

edits = editor.session_edit_rows()
if edits:  # every figure changed from the applicant's, marked with who and when
    with st.expander(t("edits_marked", n=len(edits)), expanded=False):
        editor.show_edits(edits)

st.download_button(t("save_edited"), editor.table_to_workbook(edited, ss.get("schedule_df")),
                   file_name="applications_edited.xlsx", key="dl_edited",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

# -- validation ----------------------------------------------------------------------------------
st.subheader(t("validation"))
try:
    result = compute.validation()
except ValidationError as exc:
    st.error(t("table_unusable", problems=exc.text(lang())))
    result = None

if result is not None:
    n_ok, n_bad = len(result.applications), len(result.invalid_ids)
    c1, c2, c3 = st.columns(3)
    c1.metric(t("rows"), len(result.raw))
    c2.metric(t("valid_applications"), n_ok)
    c3.metric(t("applications_with_problems"), n_bad)
    if result.problems:
        st.warning(t("n_problems", n=len(result.problems)))
        problems = result.problems_frame(lang()).rename(columns={
            "application_id": t("col_application"), "field": t("col_field"), "rule": t("col_rule"),
            "value": t("col_value"), "row": t("col_row")})
        st.dataframe(shown(problems), hide_index=True, width="stretch", key="problems_table")
    else:
        st.success(t("all_valid"))
    if result.notices:  # read other than as stored, and said so (issue 25)
        st.info(t("n_notices", n=len(result.notices)))
        st.dataframe(shown(result.problems_frame(lang(), notices=True).drop(columns=["row"]).rename(columns={
            "application_id": t("col_application"), "field": t("col_field"), "rule": t("col_rule"),
            "value": t("col_value")})), hide_index=True, width="stretch", key="notices_table")
    if result.applications:
        ev = compute.evaluation()
        st.subheader(t("evaluated_applications"))
        m = ev.metrics.assign(mineral=ev.metrics["mineral"].map(mineral_name),
                              stage=ev.metrics["stage"].map(lambda v: messages.text(f"stage_{v}", lang())))
        view, colcfg = table_view(m, [
            ("name", "col_name", "text"), ("country_iso3", "col_country", "text"), ("mineral", "col_mineral", "text"),
            ("stage", "col_stage", "text"), ("npv_usd_m", "col_npv_usd_m", "num1"), ("irr", "col_irr_pct", "pct"),
            ("min_dscr", "min_dscr", "num2"), ("fund_request_krw_bn", "col_fund_request", "money"),
            ("loan_request_krw_bn", "col_loan_request", "money")])
        st.dataframe(view, width="stretch", column_config=colcfg, key="evaluated_table")
