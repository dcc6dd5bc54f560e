"""The dashboard's pages: each file is a Streamlit page script run by `st.navigation` from `app.py`."""
