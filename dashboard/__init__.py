"""The dashboard: the st.navigation shell, the store connection, read queries, charts, actions, auth."""
