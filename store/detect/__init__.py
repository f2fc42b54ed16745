"""Detections: Sigma process-creation rules over the stored events, as findings."""
