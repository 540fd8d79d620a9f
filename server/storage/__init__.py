"""The server's SQL database: engine and sessions, the tables, and the queries over them."""
