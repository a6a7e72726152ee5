"""The packages madash bakes: client and server specs from the site, versions, the fleet."""
