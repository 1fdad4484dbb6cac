"""The heart of eventgate: users, the events they cause, and the rules those events obey.

Only the standard library may be imported here.
"""
