"""device/ixgb"""
