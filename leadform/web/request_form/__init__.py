"""The request-info form as the web doors share it: the program pages and the embed form.

`forms` holds the form (field names and labels are the public contract); `receive` the
steps of taking a POST: the signed form token, the consent version shown, the call to the
core's submit use case, the one commit, and what to show next. Each door (web.public,
web.embed) keeps its own pages, CSRF and answers; neither imports the other.
"""
