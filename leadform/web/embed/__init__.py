"""The embeddable form: /embed.js, and /embed[/<slug>] in an iframe on allowed sites."""
