"""device/spec"""
