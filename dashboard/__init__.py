"""The Streamlit UI of LOEV Explorer (installed as `loev_dashboard`; the computation is in `loev_core.explore`)."""
