"""English-Japanese parallel sentences (written for this project) on which the Japanese word
bound is measured: manuals, office documents (the pilot's 社内文書) and scene descriptions."""

PAIRS = (
    (
        "Install the package before you run the program.",
        "プログラムを実行する前にパッケージをインストールしてください。",
    ),
    (
        "The function returns an error when the file does not exist.",
        "ファイルが存在しない場合、関数はエラーを返します。",
    ),
    (
        "Press the power button for three seconds to restart the device.",
        "電源ボタンを3秒間押すと、デバイスが再起動します。",
    ),
    ("Each variable is immutable by default.", "各変数はデフォルトでイミュータブルです。"),
    (
        "The compiler checks the types of all arguments.",
        "コンパイラはすべての引数の型をチェックします。",
    ),
    (
        "Save your changes before closing the window.",
        "ウィンドウを閉じる前に変更を保存してください。",
    ),
    (
        "Our team released a new version of the library last week.",
        "私たちのチームは先週ライブラリの新しいバージョンをリリースしました。",
    ),
    ("The printer on the second floor is out of paper.", "二階のプリンターは紙切れです。"),
    (
        "You can change the settings from the menu at the top of the screen.",
        "画面上部のメニューから設定を変更できます。",
    ),
    (
        "The meeting room is reserved for the sales department on Friday afternoon.",
        "金曜日の午後、会議室は営業部のために予約されています。",
    ),
    (
        "Employees must submit the expense report by the end of the month.",
        "社員は月末までに経費報告書を提出しなければなりません。",
    ),
    (
        "This chapter explains how ownership works in Rust.",
        "この章では、Rustにおける所有権の仕組みを説明します。",
    ),
    (
        "A closure can capture variables from its environment.",
        "クロージャは環境から変数を捕捉できます。",
    ),
    (
        "The server sends a response to the client.",
        "サーバーはクライアントにレスポンスを送ります。",
    ),
    (
        "Please contact the help desk if the problem continues.",
        "問題が続く場合は、ヘルプデスクに連絡してください。",
    ),
    ("The cat is sleeping on the sofa near the window.", "猫が窓のそばのソファーで寝ている。"),
    ("A man is riding a bicycle along the river.", "男性が川沿いで自転車に乗っている。"),
    ("Two children are playing football in the park.", "二人の子供が公園でサッカーをしている。"),
    (
        "The new factory will open in the spring of next year.",
        "新しい工場は来年の春に稼働を開始する予定です。",
    ),
    (
        "Use a vector when you need a list that can grow.",
        "伸長可能なリストが必要なときはベクタを使います。",
    ),
    (
        "The manager approved the budget for the new project.",
        "部長は新しいプロジェクトの予算を承認した。",
    ),
    (
        "Visitors must wear a helmet in the construction area.",
        "建設区域では、来訪者はヘルメットを着用しなければならない。",
    ),
    (
        "The quarterly sales figures improved compared with last year.",
        "四半期の売上高は前年と比べて改善した。",
    ),
    (
        "Remove the battery before you clean the inside of the camera.",
        "カメラの内部を掃除する前に電池を外してください。",
    ),
    (
        "The training course starts at nine o'clock on Monday.",
        "研修コースは月曜日の九時に始まります。",
    ),
    ("A woman is holding an umbrella at the bus stop.", "女性がバス停で傘を持っている。"),
    (
        "The dog jumped over the fence and ran into the garden.",
        "犬は柵を飛び越えて庭に走り込んだ。",
    ),
    ("Several boats are floating on the calm lake.", "穏やかな湖に何隻かのボートが浮かんでいる。"),
    ("The chef is cutting vegetables in the kitchen.", "シェフが台所で野菜を切っている。"),
    (
        "Traits define shared behaviour for different types.",
        "トレイトは異なる型に共通の振る舞いを定義します。",
    ),
    (
        "The macro expands into code at compile time.",
        "マクロはコンパイル時にコードへ展開されます。",
    ),
    ("Write a test for every public function.", "すべての公開関数にテストを書いてください。"),
    (
        "The results of the survey will be shared with all departments.",
        "調査結果はすべての部署に共有されます。",
    ),
    ("Update the password every ninety days.", "パスワードは九十日ごとに更新してください。"),
    (
        "The system sends an email when the order is shipped.",
        "注文が発送されると、システムはメールを送信します。",
    ),
    (
        "Customers can return the product within thirty days.",
        "お客様は三十日以内に商品を返品できます。",
    ),
    ("The red car stopped in front of the old station.", "赤い車が古い駅の前で止まった。"),
    (
        "An engineer is inspecting the machine with a flashlight.",
        "技術者が懐中電灯で機械を点検している。",
    ),
    ("The students planted trees along the school road.", "生徒たちは通学路に沿って木を植えた。"),
    (
        "The iterator yields each element of the collection in order.",
        "イテレータはコレクションの各要素を順番に返します。",
    ),
)
