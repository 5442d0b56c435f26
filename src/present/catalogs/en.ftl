# outcry's English texts. Every message has its namesake in zh-CN.ftl.

## Common

list-separator = {", "}
time-unknown = unknown
author-unknown = an unknown author
times-in-zone = All times in { $zone }
label-separator = {": "}
duration = { $hours ->
    [0] { $minutes } min
   *[other] { $hours } h { $minutes } min
}
clause-separator = {"; "}
severity = { $severity }
none = none
more-items = … and { $count } more
signature = -- outcry, { $at }

stage = { $kind ->
    [surfaced] surfaced
    [spreading] spreading
    [viral] viral
    [unlinked] unlinked
    [digest] digest
    [source_down] source down
    [source_up] source up
   *[none] not public yet
}
stage-heading = { $kind ->
    [surfaced] SURFACED
    [spreading] SPREADING
    [viral] VIRAL
    [unlinked] UNLINKED
    [digest] DIGEST
    [source_down] SOURCE DOWN
    [source_up] SOURCE UP
   *[none] NOT PUBLIC YET
}
channel = { $channel ->
    [social] social
    [video] video
    [forum] forum
    [complaint] complaint
    [news] news
   *[blog] blog
}
status = { $status ->
    [open] open
   *[closed] closed
}

## Alert emails

alert-subject = [outcry] { stage-heading }: { $brand } { $case } — { $headline }
alert-subject-unlinked = [outcry] { stage-heading }: { $brand } — possible new public complaint — { $headline }
alert-title = { stage-heading } — { $brand }
heading-why-now = Why now
heading-case = The case
heading-evidence = Evidence
heading-timeline = Timeline
heading-todo = What to do now
heading-links = Links
link-case-page = Case page
link-review = Review queue
link-sources = Source health

field-case = Case
field-brand = Brand
field-status = Status
field-severity = Severity
field-opened = Opened
field-channel = Channel
field-summary = Summary
field-demand = Demand
field-notes = Notes
field-complainant = Complainant
field-phone = Phone
field-email = Email
field-handles = Handles
field-identifiers = Identifiers

evidence-byline = [{ channel }] { $source } by { $author }
evidence-reach = {" "}({ $followers ->
    [one] { $followers } follower
   *[other] { $followers } followers
})
evidence-times = published { $published }, first seen { $first_seen }
evidence-last-seen = , last seen { $seen }
evidence-engagement = engagement: { $counts }
evidence-growth = ; growing { $growth } interactions per hour
evidence-link = linked (score { $score }): { $evidence }
counts-none = not shown by the source
count-reposts = reposts { $n }
count-comments = comments { $n }
count-likes = likes { $n }
count-views = views { $n }

risk-subject = [outcry] AT RISK: { $brand } { $case } — risk { $score } of going public
risk-field-case = Case
risk-field-score = Risk of going public
risk-field-reason = Why
risk-advice = Nothing about this case is public yet: this is the time to call the customer, settle what can be settled and prepare a statement.
risk-already-public = the record says the story is out already: { $terms }
risk-public-channel = names public platforms: { $terms }
risk-press = names the press: { $terms }
risk-groups = community groups: { $terms }
risk-formal-channel = formal channels: { $terms }
risk-reach = an audience: { $terms }
risk-me-too = others with the same trouble: { $terms }
risk-safety = safety: { $terms }
risk-rage = anger or despair: { $terms }
risk-calm = the notes say the customer is calm: { $terms }
risk-known-handles = { $count ->
    [one] one known social handle
   *[other] { $count } known social handles
}
risk-severity = severity { $level }
risk-cluster = { $size } open cases tell the same story ({ $topic }): { $cases }
risk-public-alike = { $count ->
    [one] one public complaint tells the same story
   *[other] { $count } public complaints tell the same story
}
risk-cluster-about = { $size } open cases about { $topic }
risk-waiting = open { $days } days without a resolution
ev-identifier = identifier { $identifier }
ev-masked-identifier = masked identifier { $visible }* fits { $identifier }
ev-place-name = names { $name }, as in { $identifier }
ev-phone-tail = phone ending { $tail }
ev-author-is-handle = author is the complainant's handle { $handle }
ev-mentions-handle = mentions the complainant's handle { $handle }
ev-links-linked-post = links to { $url }, already linked to this case
ev-author-is-voice = the author's earlier post is linked to this case
ev-voice-follows-up = the author follows up on their earlier post linked to this case
ev-by-hand = linked by hand by { $by }
ev-mentions-voice = mentions @{ $name }, whose post is linked to this case
ev-names-voice = names { $name }, whose post is linked to this case
ev-retells = retells the case: adds { $score } (text { $case_text }, public story { $story })
ev-fact-agrees = { fact } agrees
ev-fact-conflicts = { fact } differs
ev-another-case-fits = fits another case about as well (score { $score })
ev-identifier-tail = identifier ending { $tail } fits { $identifier }
ev-brand-variant = the brand written as "{ $written }" ({ $alias })
ev-handle-off-topic = posted by the complainant's handle { $handle }, but not about the complaint
ev-tail-with-conflict = ending { $tail } coincides, but the facts conflict
ev-needs-specific-facts = { $agreeing ->
    [one] only one specific fact agrees
   *[other] only { $agreeing } specific facts agree
}: likeness of text alone does not confirm
ev-own-story = tells the author's own, similar story
ev-no-case-fits = no open case fits
fact = { $fact ->
    [place] place
    [amount] amount
    [rate] rate
    [date] date
    [month] month
    [surname] surname
    [age] age
    [city] city
    [model] model
    [quote] quoted words
    [story] what happened
   *[other] { $fact }
}

reason-first-item = first public item: a { channel } post by { $author } on { $source }, seen { $seen }
reason-spread = { $items } public items by { $authors } distinct authors on { $sources } sources
reason-news-pickup = news pickup: { $outlets }
reason-interactions = { $total } interactions (reposts, comments, likes), growing { $growth } per hour
reason-reposts = { $total } reposts of the linked posts
reason-me-too = { $count ->
    [one] 1 "me too" retelling
   *[other] { $count } "me too" retellings
}
reason-threats = threats to go public: { $terms }
reason-threat-in-notes = { $term } (case notes)
reason-rage = rage in the posts: { $terms }
reason-safety = safety words that move the public: { $terms }
reason-thresholds-lowered = thresholds lowered ×{ $factor } because of threats or safety words
reason-unlinked = a { channel } post complains about { $brand } and fits no case on record

timeline-opened = case opened
timeline-opened-via = case opened (via { $via })
timeline-post = { channel } post by { $author } on { $source }
timeline-post-seen = ; { $interactions } interactions when last seen { $seen }
timeline-gap = … { $count } more public items …
timeline-this-alert = this alert: { stage-heading }

todo-surfaced-1 = Name one person to stay with the customer, and call them back today.
todo-surfaced-2 = Promise a reply time and keep it.
todo-surfaced-3 = Record the key complaint elements: who, what happened, what they demand, contact.
todo-surfaced-4 = Prepare a holding statement in case the post spreads.
todo-spreading-1 = Keep the named contact with the customer; settle the demand if it is fair.
todo-spreading-2 = Publish the holding statement or reply where the story spreads.
todo-spreading-3 = Check for similar complaints: others saying "me too" widen the story.
todo-spreading-4 = Brief customer service so every channel gives the same answer.
todo-viral-1 = Escalate to the crisis lead now.
todo-viral-2 = Prepare the public statement and a media Q&A.
todo-viral-3 = Watch news pickup and answer journalists from one voice.
todo-viral-4 = Keep the customer's case moving: a solved case is the best statement.
todo-unlinked-1 = Find the complainant: search the case system for the facts in the post.
todo-unlinked-2 = If it is a new complaint, open a case and name a contact.
todo-unlinked-3 = Reply publicly with a way to reach you.

## Digest

digest-subject = [outcry] DIGEST { $day }: { $review ->
    [one] 1 link
   *[other] { $review } links
} to review, { $unlinked ->
    [one] 1 unlinked complaint
   *[other] { $unlinked } unlinked complaints
}, { $cases ->
    [one] 1 open case
   *[other] { $cases } open cases
} ({ $viral } viral, { $spreading } spreading, { $surfaced } surfaced)
digest-title = Daily digest — { $day }
digest-review-heading = Links waiting for review ({ $total })
digest-review-note = case { $case } — candidate link, score { $score }
digest-unlinked-heading = Unlinked complaints since { $since } ({ $total }; { $held } held back from single emails)
digest-unlinked-note = { $brand } — { $emailed ->
    [yes] emailed on its own
   *[no] not emailed on its own
}
digest-risk-heading = Most likely to go public ({ $count })
digest-risk-score = risk { $score }
digest-cases-heading = Open cases by stage ({ $count })
digest-stage-count = { stage-heading } ({ $count })
digest-case-since = since { $at }
digest-case-items = { $confirmed } linked public items, { $candidates } waiting for review
digest-signature = -- outcry digest for { $day }, { $at }

## Operator mails

operator-subject-down = [outcry] source { $source } is { $health } (for { $lasted })
operator-subject-up = [outcry] source { $source } recovered after { $lasted }
operator-field-source = Source
operator-field-url = URL
operator-field-health = Health
operator-field-since = Outage since
operator-field-failures = Consecutive failures
operator-field-last-error = Last error
operator-field-last-success = Last success
operator-field-items = Items seen
operator-never = never
operator-health = { $health }
operator-advice-up = Nothing to do: the source reads its site again.
operator-advice-blind = The site answers but shows no content: renew the cookie in the environment variable the source's `headers_env` names, or check its selectors with `outcry source test FILE`. While it is blind, complaints there go unseen.
operator-advice-failing = The source keeps failing and backs off; it is never dropped. Check the site, the network and the source file (`outcry source test FILE`).

## Pages

nav-review = Review queue
nav-brands = Brands
nav-sign-out = Sign out
nav-sources = Source health
sources-last-poll = Last poll
sources-none = No source has been polled yet.
role = { $role }
sign-in = Sign in
sign-in-title = outcry · sign in
sign-in-token = Token
sign-in-unknown = That token is not known.
sign-in-throttled = Too many failed sign-ins: wait a minute, then try again.
case-id-invalid = A case id is 1 to 64 letters, digits, "-", "_" or ".".
review-all = all
review-show = Show
review-empty = No candidate links wait for review.
review-count = { $count ->
    [one] 1 candidate link, best score first.
   *[other] { $count } candidate links, best score first.
}
pair-post = Public post
pair-case = Case
pair-seen = first seen { $at }
pair-why = Why they may be one (score { $score })
pair-leads-decide = Leads decide links.
decide-confirm = Confirm
decide-reject = Reject
record-severity = severity { $severity }
record-opened = opened { $at }
case-title = Case { $case }
case-engagement = Engagement of confirmed posts
case-timeline = Public timeline
case-candidates = Candidate links to review
col-when = When
col-link = Link
col-post = Post
col-interactions = Interactions
link-state = { $state }
timeline-alert = alert
alert-status = { $status }
brands-open = Open cases
brands-closed = Closed
brands-candidates = Candidate links
brands-confirmed = Confirmed links
brands-mentions = Mentions, last { $days } days
brands-alerts = Alerts
brands-open-cases = { $brand }: open cases
brands-linked = { $count ->
    [one] 1 linked post
   *[other] { $count } linked posts
}
chart-empty = No engagement seen yet.
chart-label = interactions over time
error-title = Error ({ $code })
error-stale-form = Stale form: reload the page.
error-lead-required = The lead role is required.
error-bad-decision = That action is not known, or it lacks what it needs.
error-not-completed = The request could not be completed.
error-no-case = No case has id { $case }.
error-link-conflict = That is not possible in the link's or case's current state.

nav-home = Needs attention
nav-cases = Cases
nav-unlinked = Unlinked complaints
cases-search = Search id, complainant, handle, identifier, text
filter-status = Status
case-status-filter = { $status ->
    [open] open
    [closed] closed
   *[all] all
}
filter-sort = Sort by
case-sort = { $sort ->
    [id] by id
    [stage] furthest stage first
    [severity] most severe first
   *[activity] latest activity first
}
filter-stage = Stage
filter-severity = Severity
home-cases = Open cases at risk or public, furthest stage first
home-cases-empty = No open case is at risk or public.
col-case = Case
col-risk = Risk
col-public-for = Public for
col-growth = Growth
col-voices = Sources · authors
col-last-alert = Last alert sent
col-published = published
growth = +{ $count }/h
voices = { $sources } · { $authors }
home-waiting = { $count ->
    [one] 1 candidate link waits for review
   *[other] { $count } candidate links wait for review, oldest first
}
pair-score = score { $score }
waiting = waiting { $duration }
home-unlinked = { $count ->
    [one] 1 unlinked complaint since { $since }
   *[other] { $count } unlinked complaints since { $since }
}
unlinked-alerted = alerted
unlinked-count = { $count ->
    [one] 1 public complaint in the last { $days } days fits no case.
   *[other] { $count } public complaints in the last { $days } days fit no case.
}
cases-count = { $count ->
    [one] 1 case.
   *[other] { $count } cases.
}
cases-empty = No case matches.
post-open = Open the post
post-title = Public post { $id }
post-links = Links to cases
post-no-links = Linked to no case.
post-link-to = Link to case
post-decided = decided by { $by }, { $at }
post-engagement = Engagement
post-sightings = Sightings
post-counts = Counts
post-followers = Author's followers
post-alerts = Alerts it caused
action = { $action ->
    [confirm] Confirm
    [reject] Reject
    [unreject] Undo rejection
    [unlink] Unlink
    [close] Close case
   *[reopen] Reopen case
}
action-link = Link
action-add = Add
action-add-handle = Add a handle (platform:name)
action-add-identifier = Add an identifier (kind:value)
case-rejected = Rejected links
case-actions = Actions
brands-unlinked = Unlinked complaints, last { $days } days
done = { $action ->
    [confirm] Link confirmed.
    [reject] Link rejected.
    [unreject] Rejection undone: the link waits for review again.
    [unlink] Post unlinked: it no longer counts for the case.
    [link] Post linked to the case.
    [close] Case closed.
    [reopen] Case reopened.
    [add_handle] Handle added; recent posts were linked again.
   *[add_identifier] Identifier added; recent posts were linked again.
}
flash-stale = That form had expired, so nothing was changed. This is the page as it is now: please try again.
error-not-found = There is no such post, case or link.
error-no-item = There is no such post.

## JSON API

api-unauthenticated = A token is required: send it as a Bearer token in the Authorization header.
api-too-many-failures = Too many failed sign-ins from here: wait as Retry-After says, then try again.
api-forbidden = The { $role } role is required.
api-not-found = Nothing was found there.
api-conflict = The request conflicts with what is stored.
api-bad-request = The request is not valid; the error says why.
api-internal = The server failed; try again later.

## chat channels
chat-first-line = [{ $stage }] { $brand } · { $case }
chat-no-case = no case
chat-evidence = Evidence { $n } ({ $channel }) { $author }
chat-case-page = Open the case page
chat-full-in-email = The full alert is in the email
chat-cut = (cut to fit)
chat-test = outcry test message: this channel works.
