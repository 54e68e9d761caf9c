"""Campaign reports: stats from the counters, the timeline chart, live stats over SSE, the CSV export."""
