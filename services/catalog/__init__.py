"""The catalog service: Municipalities, organizations, producers, certifications, products in Bolivian units, prices, stock reservation and search."""
