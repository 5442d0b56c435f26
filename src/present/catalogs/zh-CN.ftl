# outcry 的简体中文文案。每个消息都在 en.ftl 中有同名的对应条目。

## 通用

list-separator = 、
time-unknown = 未知
author-unknown = 未知作者
times-in-zone = 时间均为 { $zone }
label-separator = ：
duration = { $hours ->
    [0] { $minutes } 分钟
   *[other] { $hours } 小时 { $minutes } 分钟
}
clause-separator = ；
severity = { $severity ->
    [high] 高
    [medium] 中
    [low] 低
   *[other] { $severity }
}
none = 无
more-items = …… 另有 { $count } 条
signature = —— outcry，{ $at }

stage = { $kind ->
    [surfaced] 首次曝光
    [spreading] 扩散中
    [viral] 爆发
    [unlinked] 未关联
    [digest] 日报
    [source_down] 数据源中断
    [source_up] 数据源恢复
   *[none] 尚未公开
}
stage-heading = { stage }
channel = { $channel ->
    [social] 社交媒体
    [video] 视频
    [forum] 论坛
    [complaint] 投诉平台
    [news] 新闻
   *[blog] 博客
}
status = { $status ->
    [open] 处理中
   *[closed] 已结案
}

## 预警邮件

alert-subject = 【舆情预警·{ stage }】{ $brand } { $case } — { $headline }
alert-subject-unlinked = 【舆情预警·{ stage }】{ $brand } — 疑似新的公开投诉 — { $headline }
alert-title = { stage } — { $brand }
heading-why-now = 为什么是现在
heading-case = 案件
heading-evidence = 证据
heading-timeline = 时间线
heading-todo = 现在要做的事
heading-links = 链接
link-case-page = 案件页面
link-review = 待审核队列
link-sources = 数据源健康

field-case = 案件号
field-brand = 品牌
field-status = 状态
field-severity = 严重程度
field-opened = 立案时间
field-channel = 来源渠道
field-summary = 摘要
field-demand = 诉求
field-notes = 备注
field-complainant = 投诉人
field-phone = 电话
field-email = 邮箱
field-handles = 社交账号
field-identifiers = 识别号

evidence-byline = [{ channel }] { $source } · { $author }
evidence-reach = （粉丝 { $followers }）
evidence-times = 发布于 { $published }，首次发现于 { $first_seen }
evidence-last-seen = ，最近一次 { $seen }
evidence-engagement = 互动：{ $counts }
evidence-growth = ；每小时增长 { $growth } 次互动
evidence-link = 关联依据（得分 { $score }）：{ $evidence }
counts-none = 数据源未显示
count-reposts = 转发 { $n }
count-comments = 评论 { $n }
count-likes = 点赞 { $n }
count-views = 浏览 { $n }

risk-subject = 【舆情预警·有公开风险】{ $brand } { $case } — 公开风险 { $score }
risk-field-case = 案件
risk-field-score = 公开风险
risk-field-reason = 原因
risk-advice = 本案尚未公开：现在正是联系客户、解决能解决的问题、准备说明的时机。
risk-already-public = 记录显示已经公开：{ $terms }
risk-public-channel = 提到公开平台：{ $terms }
risk-press = 提到媒体：{ $terms }
risk-groups = 社群：{ $terms }
risk-formal-channel = 正式渠道：{ $terms }
risk-reach = 有影响力：{ $terms }
risk-me-too = 有同样遭遇的人：{ $terms }
risk-safety = 安全相关：{ $terms }
risk-rage = 愤怒或绝望：{ $terms }
risk-calm = 记录显示客户情绪平稳：{ $terms }
risk-known-handles = 已知社交账号 { $count } 个
risk-severity = 严重程度 { $level }
risk-cluster = { $size } 个在办案件讲述同一问题（{ $topic }）：{ $cases }
risk-public-alike = 已有 { $count } 条公开投诉讲述同一问题
risk-cluster-about = { $size } 个在办案件涉及{ $topic }
risk-waiting = 已 { $days } 天未解决
ev-identifier = 识别号 { $identifier }
ev-masked-identifier = 打码识别号 { $visible }* 与 { $identifier } 相符
ev-place-name = 提到地名 { $name }（见 { $identifier }）
ev-phone-tail = 手机尾号 { $tail }
ev-author-is-handle = 作者即投诉人账号 { $handle }
ev-mentions-handle = 提到投诉人账号 { $handle }
ev-links-linked-post = 链接到已关联本案的帖子 { $url }
ev-author-is-voice = 作者此前的帖子已关联本案
ev-voice-follows-up = 作者为其已关联本案的帖子发布后续
ev-by-hand = 由 { $by } 手动关联
ev-mentions-voice = 提到 @{ $name }，其帖子已关联本案
ev-names-voice = 提到 { $name }，其帖子已关联本案
ev-retells = 复述本案：计分 { $score }（与案件记录相似度 { $case_text }，与公开经过相似度 { $story }）
ev-fact-agrees = { fact }一致
ev-fact-conflicts = { fact }不符
ev-another-case-fits = 另一案件同样相符（得分 { $score }）
ev-identifier-tail = 识别号尾号 { $tail } 与 { $identifier } 相符
ev-brand-variant = 品牌写作「{ $written }」（即 { $alias }）
ev-handle-off-topic = 由投诉人账号 { $handle } 发布，但与投诉无关
ev-tail-with-conflict = 尾号 { $tail } 相同，但事实不符
ev-needs-specific-facts = 仅 { $agreeing } 项具体事实一致，仅凭文字相似不能确认
ev-own-story = 讲的是作者自己的类似经历
ev-no-case-fits = 没有相符的在办案件
fact = { $fact ->
    [place] 地点
    [amount] 金额
    [rate] 比例
    [date] 日期
    [month] 月份
    [surname] 姓氏
    [age] 年龄
    [city] 城市
    [model] 型号
    [quote] 引述的原话
    [story] 事情经过
   *[other] { $fact }
}

reason-first-item = 首条公开内容：{ $author } 在 { $source } 发布的{ channel }帖子，发现于 { $seen }
reason-spread = { $authors } 位作者在 { $sources } 个数据源发布了 { $items } 条公开内容
reason-news-pickup = 新闻报道：{ $outlets }
reason-interactions = 共 { $total } 次互动（转发、评论、点赞），每小时增长 { $growth }
reason-reposts = 关联帖子共被转发 { $total } 次
reason-me-too = { $count } 条“我也是”式的复述
reason-threats = 扬言曝光：{ $terms }
reason-threat-in-notes = { $term }（案件备注）
reason-rage = 帖子中的愤怒：{ $terms }
reason-safety = 易触动公众的安全问题：{ $terms }
reason-thresholds-lowered = 因扬言曝光或涉及安全，升级阈值降为 ×{ $factor }
reason-unlinked = 一条{ channel }帖子投诉 { $brand }，与在案的任何案件都不相符

timeline-opened = 立案
timeline-opened-via = 立案（渠道：{ $via }）
timeline-post = { $author } 在 { $source } 发布{ channel }帖子
timeline-post-seen = ；最近一次（{ $seen }）共 { $interactions } 次互动
timeline-gap = …… 中间另有 { $count } 条公开内容 ……
timeline-this-alert = 本次预警：{ stage }

todo-surfaced-1 = 指定一名专人跟进这位客户，今天内回电。
todo-surfaced-2 = 承诺答复时间，并按时兑现。
todo-surfaced-3 = 记录投诉要素：谁、发生了什么、诉求是什么、联系方式。
todo-surfaced-4 = 准备一份临时声明，以防帖子扩散。
todo-spreading-1 = 专人继续跟进客户；诉求合理的，尽快解决。
todo-spreading-2 = 在内容扩散的地方发布临时声明或回复。
todo-spreading-3 = 排查类似投诉：越多人说“我也是”，事件越大。
todo-spreading-4 = 向客服通报口径，让各渠道答复一致。
todo-viral-1 = 立即上报危机负责人。
todo-viral-2 = 准备公开声明和媒体问答。
todo-viral-3 = 关注新闻转载，统一口径回应记者。
todo-viral-4 = 继续推进客户的案件：问题解决了就是最好的声明。
todo-unlinked-1 = 找到投诉人：在案件系统中搜索帖子里的事实。
todo-unlinked-2 = 如果是新投诉，立案并指定联系人。
todo-unlinked-3 = 公开回复，留下联系方式。

## 日报

digest-subject = 【舆情日报】{ $day }：待审核关联 { $review } 条，未关联投诉 { $unlinked } 条，在办案件 { $cases } 件（爆发 { $viral }，扩散中 { $spreading }，首次曝光 { $surfaced }）
digest-title = 舆情日报 — { $day }
digest-review-heading = 待审核的关联（{ $total }）
digest-review-note = 案件 { $case } — 候选关联，得分 { $score }
digest-unlinked-heading = 自 { $since } 以来未关联的投诉（{ $total } 条，其中 { $held } 条未单独发邮件）
digest-unlinked-note = { $brand } — { $emailed ->
    [yes] 已单独发邮件
   *[no] 未单独发邮件
}
digest-risk-heading = 最可能公开的案件（{ $count }）
digest-risk-score = 公开风险 { $score }
digest-cases-heading = 按阶段列出的在办案件（{ $count }）
digest-stage-count = { stage-heading }（{ $count }）
digest-case-since = 自 { $at } 起
digest-case-items = 已关联公开内容 { $confirmed } 条，待审核 { $candidates } 条
digest-signature = —— outcry { $day } 日报，{ $at }

## 运维邮件

operator-subject-down = 【outcry 运维】数据源 { $source } { $health ->
    [blind] 看不到内容
   *[failing] 持续出错
}（已 { $lasted }）
operator-subject-up = 【outcry 运维】数据源 { $source } 已恢复（中断 { $lasted }）
operator-field-source = 数据源
operator-field-url = 地址
operator-field-health = 状态
operator-field-since = 中断开始
operator-field-failures = 连续失败次数
operator-field-last-error = 最近错误
operator-field-last-success = 最近成功
operator-field-items = 已见条目
operator-never = 从未
operator-health = { $health ->
    [ok] 正常
    [blind] 看不到内容
   *[failing] 出错
}
operator-advice-up = 无需处理：数据源已能重新读取网站。
operator-advice-blind = 网站有应答却不显示内容：请更新数据源 `headers_env` 所指环境变量中的登录凭证，或用 `outcry source test FILE` 检查选择器。在它恢复之前，那里的投诉都看不到。
operator-advice-failing = 数据源持续出错并在退避；它不会被丢弃。请检查网站、网络和数据源文件（`outcry source test FILE`）。

## 页面

nav-review = 待审核队列
nav-brands = 品牌概览
nav-sign-out = 退出
nav-sources = 数据源健康
sources-last-poll = 最近一次抓取
sources-none = 还没有抓取过任何数据源。
role = { $role ->
    [viewer] 只读
    [lead] 组长
   *[operator] 运维
}
sign-in = 登录
sign-in-title = outcry · 登录
sign-in-token = 令牌
sign-in-unknown = 这个令牌无效。
sign-in-throttled = 登录失败次数过多，请一分钟后再试。
case-id-invalid = 案件号须为 1 到 64 个字母、数字或 "-"、"_"、"."。
review-all = 全部
review-show = 显示
review-empty = 没有等待审核的候选关联。
review-count = 共 { $count } 条候选关联，得分高的在前。
pair-post = 公开帖子
pair-case = 案件
pair-seen = 首次发现于 { $at }
pair-why = 为什么可能是同一件事（得分 { $score }）
pair-leads-decide = 关联由组长确认或否决。
decide-confirm = 确认
decide-reject = 否决
record-severity = 严重程度 { $severity }
record-opened = 立案于 { $at }
case-title = 案件 { $case }
case-engagement = 已确认帖子的互动
case-timeline = 公开时间线
case-candidates = 待审核的候选关联
col-when = 时间
col-link = 关联
col-post = 帖子
col-interactions = 互动
link-state = { $state ->
    [candidate] 待审核
    [confirmed] 已确认
   *[rejected] 已否决
}
timeline-alert = 预警
alert-status = { $status ->
    [pending] 待发送
    [sent] 已发送
   *[cancelled] 已取消
}
brands-open = 在办案件
brands-closed = 已结案
brands-candidates = 候选关联
brands-confirmed = 已确认关联
brands-mentions = 近 { $days } 天提及
brands-alerts = 预警
brands-open-cases = { $brand }：在办案件
brands-linked = 已关联 { $count } 条帖子
chart-empty = 还没有互动数据。
chart-label = 互动随时间变化
error-title = 出错了（{ $code }）
error-stale-form = 表单已过期，请刷新页面。
error-lead-required = 需要组长权限。
error-bad-decision = 无法识别的操作，或缺少必要的内容。
error-not-completed = 请求未能完成。
error-no-case = 没有编号为 { $case } 的案件。
error-link-conflict = 这条关联或案件的当前状态不允许此操作。

nav-home = 待处理
nav-cases = 案件
nav-unlinked = 未关联投诉
cases-search = 搜索案件号、投诉人、账号、标识、内容
filter-status = 状态
case-status-filter = { $status ->
    [open] 在办
    [closed] 已结案
   *[all] 全部
}
filter-sort = 排序
case-sort = { $sort ->
    [id] 按案件号
    [stage] 阶段最高的在前
    [severity] 最严重的在前
   *[activity] 最近有动静的在前
}
filter-stage = 阶段
filter-severity = 严重程度
home-cases = 有风险或已公开的在办案件，阶段最高的在前
home-cases-empty = 目前没有有风险或已公开的在办案件。
col-case = 案件
col-risk = 风险
col-public-for = 公开已有
col-growth = 增长
col-voices = 来源 · 作者
col-last-alert = 最近发出的预警
col-published = 发布于
growth = 每小时 +{ $count }
voices = { $sources } 个来源 · { $authors } 位作者
home-waiting = { $count } 条候选关联等待审核，等待最久的在前
pair-score = 得分 { $score }
waiting = 已等待 { $duration }
home-unlinked = 自 { $since } 以来 { $count } 条未关联投诉
unlinked-alerted = 已预警
unlinked-count = 近 { $days } 天有 { $count } 条公开投诉未关联任何案件。
cases-count = 共 { $count } 个案件。
cases-empty = 没有符合条件的案件。
post-open = 查看帖子
post-title = 公开帖子 { $id }
post-links = 与案件的关联
post-no-links = 尚未关联任何案件。
post-link-to = 关联到案件
post-decided = { $by } 于 { $at } 决定
post-engagement = 互动
post-sightings = 抓取记录
post-counts = 计数
post-followers = 作者粉丝数
post-alerts = 由此触发的预警
action = { $action ->
    [confirm] 确认
    [reject] 否决
    [unreject] 撤销否决
    [unlink] 取消关联
    [close] 结案
   *[reopen] 重新打开
}
action-link = 关联
action-add = 添加
action-add-handle = 添加账号（平台:名称）
action-add-identifier = 添加标识（类型:值）
case-rejected = 已否决的关联
case-actions = 操作
brands-unlinked = 近 { $days } 天未关联投诉
done = { $action ->
    [confirm] 关联已确认。
    [reject] 关联已否决。
    [unreject] 已撤销否决，这条关联重新等待审核。
    [unlink] 已取消关联，这条帖子不再计入本案。
    [link] 帖子已关联到本案。
    [close] 案件已结案。
    [reopen] 案件已重新打开。
    [add_handle] 账号已添加，近期帖子已重新关联。
   *[add_identifier] 标识已添加，近期帖子已重新关联。
}
flash-stale = 表单已过期，未做任何更改。以下是当前页面，请重试。
error-not-found = 找不到这条帖子、案件或关联。
error-no-item = 找不到这条帖子。

## JSON API

api-unauthenticated = 需要令牌：请在 Authorization 头中以 Bearer 方式提供。
api-too-many-failures = 此处登录失败次数过多，请按 Retry-After 等待后再试。
api-forbidden = 需要{ $role }权限。
api-not-found = 找不到请求的对象。
api-conflict = 请求与现有数据冲突。
api-bad-request = 请求有误，请查看 error 中的说明。
api-internal = 服务器内部出错，请稍后再试。

## chat channels
chat-first-line = 【{ $stage }】{ $brand } · { $case }
chat-no-case = 未关联案件
chat-evidence = 证据 { $n }（{ $channel }）{ $author }
chat-case-page = 查看案件页面
chat-full-in-email = 完整内容见告警邮件
chat-cut = （内容过长，已截断）
chat-test = outcry 测试消息：此频道已连通。
