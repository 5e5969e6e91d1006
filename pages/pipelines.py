"""Pipelines."""

import streamlit as st

st.title("Pipelines")
st.info("Coming soon.")
