-- Scenario 3: fund-risk screening 防范基金风险 (principal: si_analyst)
--
-- Pensions paid for months after the pensioner's death (public security's death register),
-- with the number of such months and the amount overpaid; and pensions paid for months in
-- which the pensioner was in prison (justice), where payment should have been suspended. A
-- payment counts when its pay_month (the first day of the month paid) is after death_date, or
-- falls between start_date and end_date of a term (a term still being served runs to today,
-- 2026-11-01).
--
-- 场景三：防范基金风险。与公安死亡登记比对，找出死亡后仍在领取养老金的人员及多发月数、金额；
-- 与司法部门服刑数据比对，找出服刑期间仍在领取养老金的人员。
--
-- The periods in which no pension is due are listed first (from the day after death, with no
-- end; each prison term), then the payments are matched against them in one pass over the
-- large payments table.
--
-- Policy notes: deaths.id_no and incarcerations.id_no are match columns, used only in join
-- equalities; cause_category and facility_code are denied and not used. Each person has at
-- most one death row, and a person's prison terms do not overlap, so every payment is counted
-- once per reason. The sum is cast to DECIMAL(12, 2) so that every engine returns exact cents.
WITH not_due AS (
    SELECT
        p.id_no,
        p.name,
        'deceased' AS reason,
        d.death_date + INTERVAL '1' DAY AS first_day,
        DATE '9999-12-31' AS last_day
    FROM social_security.public.pensioners p
    JOIN public_security.public.deaths d
        ON d.id_no = p.id_no
    UNION ALL
    SELECT
        p.id_no,
        p.name,
        'incarcerated' AS reason,
        j.start_date AS first_day,
        COALESCE(j.end_date, DATE '2026-11-01') AS last_day
    FROM social_security.public.pensioners p
    JOIN justice.public.incarcerations j
        ON j.id_no = p.id_no
)
SELECT
    n.id_no,
    n.name,
    n.reason,
    count(*) AS months,
    CAST(sum(pay.amount) AS DECIMAL(12, 2)) AS amount
FROM not_due n
JOIN social_security.public.payments pay
    ON pay.id_no = n.id_no
   AND pay.pay_month >= n.first_day
   AND pay.pay_month <= n.last_day
GROUP BY n.id_no, n.name, n.reason
ORDER BY n.reason, n.id_no
