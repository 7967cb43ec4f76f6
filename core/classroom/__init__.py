"""A class of students on one lab: accounts and roles, who owns what, and the fair run queue.

``accounts``: the class's accounts (bcrypt-hashed passwords, roles, a limit on wrong passwords), the acting user
(``Actor``; ``LOCAL`` on a laptop with no class) and the ownership checks every changing ``core`` function makes.
``queue``: at most N runs at once, the rest waiting first-come with one waiting run per student; place and
estimated start; the teacher moves runs.
"""
