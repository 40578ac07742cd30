"""The lending desk's pages (staff) and the administrators' policy pages, under /desk."""
