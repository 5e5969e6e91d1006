"""Logs."""

import streamlit as st

st.title("Logs")
st.info("Coming soon.")
