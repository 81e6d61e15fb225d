"""Generated traffic and its ground truth: the records, identifiers and planted hits
(traffic, identifiers, planting), their pacing (sender, surge, paced, sightings) and the
hits a run must produce (groundtruth)."""
