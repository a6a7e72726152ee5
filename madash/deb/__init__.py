"""Debian packages as data: the package spec, maintainer-script snippets, the .deb writer and reader."""
