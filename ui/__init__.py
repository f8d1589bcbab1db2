"""The Gradio chat UI, mounted in the API app."""
