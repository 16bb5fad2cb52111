"""The Textual UI of regwiz. Renders the engine's events; holds no engine logic."""
