"""ixsim"""
