"""No models: this module exists so post_migrate is sent for the workers app."""
