"""Models."""

import streamlit as st

st.title("Models")
st.info("Coming soon.")
