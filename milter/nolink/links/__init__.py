"""Link finders: plain text, HTML, 2D codes in images. Each returns Link values with their location.

Reading formats (PDF, archives, office, images) is extract/; these only find links in what it yields.
"""
