"""Data dictionary."""

import streamlit as st

st.title("Data dictionary")
st.info("Coming soon.")
