"""Incident timeline."""

import streamlit as st

st.title("Incident timeline")
st.info("Coming soon.")
