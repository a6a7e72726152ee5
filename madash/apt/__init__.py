"""The site apt repository: planning, publishing, signing; the identity hosts see."""
