"""The site: madash.toml → a typed, validated model; the feature registry; the layout; init and secrets."""
