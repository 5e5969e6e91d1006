"""Collection."""

import streamlit as st

st.title("Collection")
st.info("Coming soon.")
