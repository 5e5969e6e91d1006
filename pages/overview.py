"""Overview."""

import streamlit as st

st.title("Overview")
st.info("Coming soon.")
