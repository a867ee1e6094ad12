"""The remote client for telehealth (issue 13): the wire form of the stimulus, the message protocol,
the embedded server and the page it serves. Qt-free."""
