"""Format readers: each turns a PDF, DOCX, HTML or plain-text file into its pages of raw
text and metadata, which `server.documents.parsing` normalises and assembles."""
