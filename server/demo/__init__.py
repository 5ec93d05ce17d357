"""`coderai demo`: the product's main job end to end on sample documents, through the API."""
