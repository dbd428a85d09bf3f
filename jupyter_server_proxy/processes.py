"""Supervised app processes. (Being written: see the brief in the commit that adds it.)"""
