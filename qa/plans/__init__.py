"""Plans for the question families whose evidence the graph holds as text rather than as
relations (review feedback in meetings, bug outcomes in triage threads, demos shared in
channels, a feature's pull requests), one module each behind one interface
(`qa.plans.base.Plan`: match, route, gather), tried in this order; `SearchPlan` is the
text plan every other question falls back to."""

from qa.plans.base import Plan, PlanContext
from qa.plans.bugs import BugsPlan
from qa.plans.channels import CompetitorsPlan, DemosPlan, FeedbackPlan
from qa.plans.documents import DocReviewPlan, ReleaseTeamPlan
from qa.plans.pulls import PullRequestsPlan
from qa.plans.search import SearchPlan

PLANS: list[Plan] = [DocReviewPlan(), DemosPlan(), ReleaseTeamPlan(), FeedbackPlan(), CompetitorsPlan(),
                     BugsPlan(), PullRequestsPlan()]
SEARCH = SearchPlan()

__all__ = ["PLANS", "SEARCH", "Plan", "PlanContext"]
