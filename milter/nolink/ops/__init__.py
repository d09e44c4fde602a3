"""Operations tools: the decision journal, lookup by reference, the hold queue, the report.

Nothing here is on the path of a message except Journal.decided(), which only queues a row.
"""
