"""Community: station reviews with photos, posts and replies, drivers' broken-gun reports (raised
as alarms at the station), and the operators' moderation (hide, ban, sensitive words)."""
