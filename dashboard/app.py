"""LOEV Explorer dashboard: entry point. `loev dashboard` (installed or in a checkout) or
`streamlit run dashboard/app.py` in a checkout; the package is installed as `loev_dashboard`.

Navigation uses st.navigation/st.Page; each page is a script in `views/` (a folder named `pages/`
would switch Streamlit to its legacy multipage mode, which bypasses this entry point). The page's
name is in the URL path and the rest of the selection in the query string, so any view can be
bookmarked.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from loev_dashboard import cached, widgets
from loev_dashboard.state import active_models, corpus_title, keep_in_url

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="LOEV Explorer", page_icon=":material/graphic_eq:", layout="wide")
st.markdown("""<style>
.st-key-intro p {font-size: 1.02rem; line-height: 1.55; opacity: .88; max-width: 72rem;}
audio[data-testid="stAudio"], [data-testid="stAudio"] audio {max-width: 36rem;}  /* a lone player: no page-wide bar */
[data-testid="stButtonGroup"] div:has(> button) {flex-wrap: wrap;}  /* options wrap rather than hide */
/* a row of players wraps before a player gets too narrow for its seek bar (a narrow window, a projector); in a
   grid of players (`widgets.player_grid`), one left alone by the wrap keeps its width instead of stretching */
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stAudio"]) {flex-wrap: wrap;}
[data-testid="stColumn"]:has([data-testid="stAudio"]) {min-width: min(16rem, 100%);}
[class*="st-key-players-"] [data-testid="stColumn"] {flex-grow: 0;}
/* a row of controls wraps before a column cuts off its own buttons (View, Projection, Transform at 900 px) */
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] > [data-testid="stVerticalBlock"] >
  [data-testid="stElementContainer"]:only-child > [data-testid="stButtonGroup"]) {flex-wrap: wrap;}
[data-testid="stColumn"]:has(> [data-testid="stVerticalBlock"] > [data-testid="stElementContainer"]:only-child >
  [data-testid="stButtonGroup"]) {min-width: max-content;}
/* a form's button beside its box keeps its label; a model card's facts and curves stack in a narrow window */
[data-testid="stColumn"]:has(> [data-testid="stVerticalBlock"] > [data-testid="stElementContainer"] > div >
  [data-testid="stFormSubmitButton"]) {min-width: max-content;}
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] > [data-testid="stVerticalBlock"] >
  [data-testid="stElementContainer"] > [data-testid="stHtml"] .loev-kv) {flex-wrap: wrap;}
[data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] > [data-testid="stVerticalBlock"] >
  [data-testid="stElementContainer"] > [data-testid="stHtml"] .loev-kv) > [data-testid="stColumn"]
  {min-width: min(20rem, 100%);}
[data-testid="stMetricValue"] {font-size: 1.6rem;}
</style>""", unsafe_allow_html=True)

PAGES = [
    st.Page(HERE / "views" / "models.py", title="Models", icon=":material/model_training:", url_path="models",
            default=True),
    st.Page(HERE / "views" / "tour.py", title="Tour", icon=":material/tour:", url_path="tour"),
    st.Page(HERE / "views" / "explorer.py", title="Embedding explorer", icon=":material/scatter_plot:",
            url_path="explorer"),
    st.Page(HERE / "views" / "equivariance.py", title="Equivariance", icon=":material/show_chart:",
            url_path="equivariance"),
    st.Page(HERE / "views" / "retrieval.py", title="Retrieval", icon=":material/manage_search:",
            url_path="retrieval"),
    st.Page(HERE / "views" / "compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
]

page = st.navigation(PAGES)
cached.start_warmup()
widgets.one_player()
for shared in ("corpus", "models"):
    keep_in_url(shared)
with st.sidebar:
    st.caption("**LOEV Explorer** · what contrastive music models keep and what they throw away")
    chosen = st.empty()  # filled after the page ran: the Models page may have just changed the choice
try:
    page.run()
except Exception as e:  # last resort: a message on the page, never a traceback (details go to the log)
    logging.getLogger("loev.dashboard").exception("page failed")
    st.error(f"This page hit an unexpected problem ({type(e).__name__}: {e}). Other pages still work; "
             "the server log has the details.", icon=":material/error:")
finally:
    models = active_models()
    chosen.caption(f"Models: {', '.join(models) if models else 'none yet'}  \nCorpus: "
                   f"`{corpus_title()}`")
