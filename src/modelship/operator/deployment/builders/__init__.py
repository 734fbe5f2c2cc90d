"""Pure builders of the Deployment's children: the stages, the acceptance Job, a canary's pods,
router and Services, the replica-ratio and Gateway API traffic objects, the HPA."""
