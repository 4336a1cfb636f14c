"""Local development stack: the Elastic Beanstalk pieces (sqsd, .ebextensions, AWS resources) on one machine."""
