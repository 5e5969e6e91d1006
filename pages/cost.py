"""Cost."""

import streamlit as st

st.title("Cost")
st.info("Coming soon.")
