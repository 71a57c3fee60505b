-- Reserved for issue 13 (filled in by its branch).
SELECT 1;
