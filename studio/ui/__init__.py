"""The Streamlit studio (``huddle ui``): build a team on a canvas, run it live, browse memory and past runs.

Pages are plain functions (``page()``) in their own modules; ``app.py`` is the
script Streamlit runs and only wires them into a navigation. Nothing here is
imported by the rest of Huddle: the studio is a surface on top of the runner,
the run log and the memory.
"""
