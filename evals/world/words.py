"""Words too common to say what a text is about (searches and topic matching skip them)."""

STOPWORDS = {
    "the", "and", "for", "with", "that", "this", "from", "into", "can", "you", "please", "our", "are", "was",
    "its", "let", "lets", "need", "needs", "make", "want", "have", "has", "then", "them", "also", "some",
    "what", "when", "where", "how", "why", "who", "fix", "add", "use", "get", "set", "new", "now", "just",
    "should", "would", "could", "before", "after", "there", "here", "your", "about", "file", "code", "src",
}
