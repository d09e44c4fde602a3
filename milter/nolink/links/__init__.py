"""Link finders: plain text, HTML, attachments. Each returns Link values with their location."""
