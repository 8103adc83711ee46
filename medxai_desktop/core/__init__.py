"""Headless core of MedXAI Desktop: plain Python + torch, never Qt."""
